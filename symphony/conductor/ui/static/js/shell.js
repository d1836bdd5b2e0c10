// A command line <-> an argument list, the way a POSIX shell splits words (quotes and
// backslashes only: no variables, globs or pipes; the job runs without a shell).

/** "python3 -c 'print(1)'" -> ["python3", "-c", "print(1)"]; throws on an open quote. */
export function splitCommand(text) {
  const args = [];
  let word = null; // null: between words
  let quote = null; // "'" or '"' while inside quotes
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word = word ?? "";
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) args.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new Error(`the command has an unclosed ${quote} quote`);
  if (word !== null) args.push(word);
  return args;
}

/** ["sh", "-c", "echo hi"] -> "sh -c 'echo hi'" (quoted only where needed). */
export function joinCommand(args) {
  return args
    .map((a) => (a !== "" && /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
