local base = require("base")
return { upper = function(s) return base.str(s):upper() end }
