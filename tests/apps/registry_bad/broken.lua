local M = {}

function M.main()
    return 1 +
end

return M
