-- Edit-to-diagnostics latency of `tarsdock lsp` in a real Neovim (run by run.sh, which loads
-- the README's Neovim 0.7 snippet as init.lua and opens the template).
--
-- Each round inserts (then deletes again) one line holding an unknown macro in the middle of
-- the buffer, as typing would, and waits until Neovim has the diagnostics of that edit. It
-- records three instants per edit: the buffer change, the arrival of the server's
-- publishDiagnostics (before Neovim handles it) and the end of Neovim's handling (what the
-- user sees). Results go to the file named by TARSDOCK_BENCH_OUT as JSON.
local rounds = tonumber(os.getenv("TARSDOCK_BENCH_ROUNDS") or "40")
local pause = tonumber(os.getenv("TARSDOCK_BENCH_PAUSE_MS") or "100")
local hrtime = vim.loop.hrtime
-- Neovim's own CPU time (user + system), in ms: on a shared machine wall time includes waiting
-- for a core; this does not.
local function cpu_ms()
  local u = vim.loop.getrusage()
  return (u.utime.sec + u.stime.sec) * 1e3 + (u.utime.usec + u.stime.usec) / 1e3
end
local buf = vim.api.nvim_get_current_buf()
local received, shown, handler_cpu = nil, nil, nil
local captured
local n_published = 0
local default_handler = vim.lsp.handlers["textDocument/publishDiagnostics"]
vim.lsp.handlers["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
  received = hrtime()
  n_published = n_published + 1
  local cpu = cpu_ms()
  default_handler(err, result, ctx, config)
  handler_cpu = cpu_ms() - cpu
  shown = hrtime()
  captured = captured or { result = result, ctx = ctx }
end

local out = { rounds = {} }
local function count()
  return #vim.diagnostic.get(buf)
end
local ok, err = pcall(function()
  local t0 = hrtime()
  assert(vim.wait(120000, function() return count() > 0 end, 1), "no diagnostics")
  out.initial_ms = (hrtime() - t0) / 1e6
  out.initial_count = count()
  local middle = math.floor(vim.api.nvim_buf_line_count(buf) / 2)
  -- Find a line inside a domain (a key=value line) to insert next to.
  while not vim.api.nvim_buf_get_lines(buf, middle, middle + 1, false)[1]:find("=") do
    middle = middle + 1
  end
  for i = 1, rounds do
    vim.wait(pause)
    local before = count()
    local want = (i % 2 == 1) and before + 1 or before - 1
    received, shown = nil, nil
    local start = hrtime()
    local cpu = cpu_ms()
    if i % 2 == 1 then
      vim.api.nvim_buf_set_lines(buf, middle, middle, false, { "    bench_key=${bench_unknown_macro}" })
    else
      vim.api.nvim_buf_set_lines(buf, middle, middle + 1, false, {})
    end
    assert(vim.wait(30000, function() return shown ~= nil and count() == want end, 1), "round " .. i)
    table.insert(out.rounds, {
      to_received_ms = (received - start) / 1e6,
      to_shown_ms = (shown - start) / 1e6,
      nvim_cpu_ms = cpu_ms() - cpu,
      handler_cpu_ms = handler_cpu,
    })
  end
  -- Keystrokes inside a value that change no finding: how many notifications they cost
  -- Neovim (each waits up to 300 ms for one).
  local line = middle
  while not vim.api.nvim_buf_get_lines(buf, line, line + 1, false)[1]:find("=%w") do
    line = line + 1
  end
  local text = vim.api.nvim_buf_get_lines(buf, line, line + 1, false)[1]
  local col = text:find("=%w")
  local published_before = n_published
  for i = 1, 20 do
    local ch = (i % 2 == 1) and "q" or text:sub(col + 1, col + 1)
    vim.api.nvim_buf_set_text(buf, line, col, line, col + 1, { ch })
    vim.wait(300, function() return n_published > published_before end, 1)
  end
  out.value_keystrokes = 20
  out.value_keystroke_publishes = n_published - published_before

  -- What the notification's shape costs Neovim: the payload as sent now (help as related
  -- information) against the same findings shaped as before (help appended to the message),
  -- each decoded from JSON and handled, best of 7, CPU time.
  local function cost(result)
    local json = vim.fn.json_encode(result)
    local best = math.huge
    for _ = 1, 7 do
      local cpu = cpu_ms()
      default_handler(nil, vim.json.decode(json), captured.ctx, {})
      best = math.min(best, cpu_ms() - cpu)
    end
    return { bytes = #json, decode_and_handle_cpu_ms = best }
  end
  local before = vim.deepcopy(captured.result)
  for _, d in ipairs(before.diagnostics) do
    local kept = {}
    for _, r in ipairs(d.relatedInformation or {}) do
      if r.message:sub(1, 6) == "help: " then
        d.message = d.message .. "\n" .. r.message
      else
        table.insert(kept, r)
      end
    end
    d.relatedInformation = (#kept > 0) and kept or nil
  end
  out.payload_now = cost(captured.result)
  out.payload_help_in_message = cost(before)
end)
if not ok then out.error = tostring(err) end
local f = io.open(os.getenv("TARSDOCK_BENCH_OUT"), "w")
f:write(vim.fn.json_encode(out))
f:close()
vim.cmd("qall!")
