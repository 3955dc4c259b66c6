-- One durable step of the benchmark workflow: as small as a call can be, so
-- that what is measured is the recording, not the work.
return { step = function(x) return x + 1 end }
