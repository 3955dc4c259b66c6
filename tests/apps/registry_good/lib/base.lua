return { str = function(v) return tostring(v) end }
