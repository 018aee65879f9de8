-- incept-dsl for Neovim (0.10+): put this file in ~/.config/nvim/plugin/ (or require it).
-- .incept files get the `incept` filetype, `#` comments, and the language server
-- `incept-dsl lsp` (pip install incept-dsl[lsp]): diagnostics, hover (K), go to definition
-- (gd / CTRL-]), references, completion (CTRL-X CTRL-O), outline and formatting (gq / vim.lsp.buf.format).
vim.filetype.add({ extension = { incept = "incept" } })

vim.api.nvim_create_autocmd("FileType", {
  pattern = "incept",
  callback = function(args)
    vim.bo[args.buf].commentstring = "# %s"
    vim.bo[args.buf].comments = ":#"
    vim.lsp.start({
      name = "incept-dsl",
      cmd = { "incept-dsl", "lsp" },
      root_dir = vim.fs.root(args.buf, { ".git", "pyproject.toml" })
        or vim.fs.dirname(vim.api.nvim_buf_get_name(args.buf)),
    })
  end,
})
