return { shout = function(text) return string.upper(text) .. "!" end }
