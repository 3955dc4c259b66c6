local workflow = require("workflow")

local function run(input)
    return { id = workflow.info().id, input = input }
end

return { run = run }
