// host/shell/shell.ts -- the shell of `helix boot` and of the browser demo: ls, cd, cat, echo,
// mkdir, rm, mv, cp, ln, stat, touch, tree, df, sync, help, exit over a kernel's HelixFs.
//
// Layer: portable (no node:* import, no DOM): host/cli/main.ts drives it from a terminal
// (readline), host/web/ from xterm.js in a page. Interface: new Shell(fs, io).run(text);
// parseShell; SHELL_COMMANDS; shellHelp. Rules: output and messages match coreutils' wording
// (`helix: CMD: OPERAND: strerror`); a failing command never ends the shell, a kernel panic
// does (it propagates); every loop over a tree is bounded (TREE_DEPTH_MAX).

import posix from "path-browserify";
import { KernelPanic } from "../vmm/kernel.js";
import type { HelixFs } from "../fs/fs.js";
import { errCode, fullTime, humanSize, modeString, shortTime, strerror, table } from "./format.js";
import { TREE_DEPTH_MAX, ensureGuestDir } from "./tree.js";

/** Commands one shell line may hold (bounds a pasted script). */
const SHELL_COMMANDS_MAX = 100_000;

// ---- the shell -----------------------------------------------------------------------------

/** Where the shell writes: command output and error lines. */
export interface ShellIO {
  out(data: string | Uint8Array): void;
  err(line: string): void;
  /** Called after a `sync` returned: the absolute paths fsync'ed, or null for a whole sync. */
  onSync?(paths: string[] | null): void;
  /**
   * Bytes in use that only snapshots hold (kernel_info; statfs counts them as used): `df`
   * says how much of Used they are when this is given and non-zero.
   */
  snapshotBytes?(): number;
}

/** One parsed command: words and an optional output redirection. */
interface ParsedCommand { argv: string[]; redirect?: { file: string; append: boolean } }

/** A shell syntax or usage error inside one command (printed, the shell goes on). */
class ShellError extends Error {}

/** The error a ShellExtension throws to print `helix: LINE` (the shell goes on). */
export function shellFailure(line: string): Error { return new ShellError(line); }

/**
 * Splits shell text into commands at unquoted `;` and newlines. Words may be quoted with
 * '...' (literal) or "..." (backslash escapes \" \\ \$ \`), a backslash escapes one
 * character outside quotes, `#` at the start of a word starts a comment, and `>` / `>>`
 * redirect the command's output to a file in the image.
 */
export function parseShell(text: string): ParsedCommand[] {
  const cmds: ParsedCommand[] = [];
  let words: string[] = [];
  let redirect: ParsedCommand["redirect"];
  let pendingRedirect: boolean | null = null; // append flag while waiting for the file word
  let word = "";
  let inWord = false;
  const endWord = () => {
    if (!inWord) return;
    if (pendingRedirect !== null) { redirect = { file: word, append: pendingRedirect }; pendingRedirect = null; }
    else words.push(word);
    word = "";
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (pendingRedirect !== null) throw new ShellError("syntax error: redirection without a file name");
    if (words.length > 0) {
      if (cmds.length >= SHELL_COMMANDS_MAX) throw new ShellError(`more than ${SHELL_COMMANDS_MAX} commands`);
      cmds.push({ argv: words, redirect });
    } else if (redirect) {
      throw new ShellError("syntax error: redirection without a command");
    }
    words = [];
    redirect = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const j = text.indexOf("'", i + 1);
      if (j < 0) throw new ShellError("syntax error: unterminated quote (')");
      word += text.slice(i + 1, j);
      inWord = true;
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length && '"\\$`'.includes(text[j + 1])) { word += text[++j]; continue; }
        word += text[j];
      }
      if (j >= text.length) throw new ShellError('syntax error: unterminated quote (")');
      inWord = true;
      i = j;
    } else if (c === "\\" && i + 1 < text.length) {
      if (text[i + 1] !== "\n") { word += text[i + 1]; inWord = true; }
      i++;
    } else if (c === ";" || c === "\n") {
      endCommand();
    } else if (c === ">") {
      endWord();
      if (pendingRedirect !== null) throw new ShellError("syntax error near '>'");
      const append = text[i + 1] === ">";
      if (append) i++;
      pendingRedirect = append;
    } else if (c === "|" || c === "<" || c === "&") {
      // no pipes, input redirection or jobs: refuse rather than pass the character as a word
      throw new ShellError(`syntax error: '${c}' is not supported (the shell has ';', '>' and '>>')`);
    } else if (c === " " || c === "\t" || c === "\r") {
      endWord();
    } else if (c === "#" && !inWord) {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand();
  return cmds;
}

/** Splits `-rf`-style flags from operands; unknown flags are a ShellError. */
function getopts(args: string[], allowed: string, cmd: string): { f: Set<string>; ops: string[] } {
  const f = new Set<string>();
  const ops: string[] = [];
  let flagsDone = false;
  for (const a of args) {
    if (!flagsDone && a === "--") { flagsDone = true; continue; }
    if (!flagsDone && a.length > 1 && a[0] === "-") {
      for (const ch of a.slice(1)) {
        if (!allowed.includes(ch)) throw new ShellError(`${cmd}: invalid option -- '${ch}'`);
        f.add(ch);
      }
    } else {
      ops.push(a);
    }
  }
  return { f, ops };
}

/**
 * The shell's commands: name, flags (getopts takes them from here) and the help line. `help`
 * prints this table, tab completion offers its names, so neither can miss a command.
 */
export const SHELL_COMMANDS: readonly { name: string; flags: string; usage: string; does: string }[] = [
  { name: "ls", flags: "la1", usage: "ls [-l] [-a] [-1] [PATH...]", does: "list directories (-l: long format; a symlink operand is described, not followed)" },
  { name: "cd", flags: "", usage: "cd [DIR]", does: "change the current directory" },
  { name: "pwd", flags: "", usage: "pwd", does: "print the current directory" },
  { name: "cat", flags: "", usage: "cat FILE...", does: "print files" },
  { name: "echo", flags: "n", usage: "echo [-n] TEXT...", does: "print text (-n: no newline)" },
  { name: "mkdir", flags: "p", usage: "mkdir [-p] DIR...", does: "make directories (-p: with parents, no error if existing)" },
  { name: "rm", flags: "rRf", usage: "rm [-r] [-f] PATH...", does: "remove files (-r: and trees; -f: ignore missing)" },
  { name: "rmdir", flags: "", usage: "rmdir DIR...", does: "remove empty directories" },
  { name: "mv", flags: "f", usage: "mv [-f] SRC... DEST", does: "rename, or move into a directory" },
  { name: "cp", flags: "rR", usage: "cp [-r] SRC... DEST", does: "copy within the image (-r: trees; symlinks recreated)" },
  { name: "ln", flags: "sf", usage: "ln [-s] [-f] TARGET LINK", does: "make a hard link (-s: symbolic; -f: replace LINK)" },
  { name: "stat", flags: "", usage: "stat PATH...", does: "show inode details (times to the nanosecond, UTC)" },
  { name: "touch", flags: "", usage: "touch FILE...", does: "create files or set their times to now" },
  { name: "tree", flags: "", usage: "tree [DIR...]", does: "show directory trees" },
  { name: "df", flags: "h", usage: "df [-h]", does: "show free space (-h: human sizes, 128M)" },
  { name: "sync", flags: "d", usage: "sync [-d] [FILE...]", does: "commit everything to the image; with FILEs, fsync each (-d: fdatasync), as coreutils does" },
  { name: "help", flags: "", usage: "help", does: "this text" },
  { name: "exit", flags: "", usage: "exit [N]", does: "leave the shell (the kernel is shut down cleanly)" },
];

/**
 * A command a host adds to its shell (the page's `download`): listed by `help`, offered by
 * tab completion, run like the built-in ones (output through `out`; a thrown
 * shellFailure(line) prints `helix: LINE`, any other error `helix: NAME: strerror`).
 */
export interface ShellExtension {
  name: string;
  usage: string;
  does: string;
  run(args: string[], out: (d: string | Uint8Array) => void, shell: Shell): void;
}

/** The text of `help` (with a host's extra commands after the built-in ones). */
export function shellHelp(extra: readonly ShellExtension[] = []): string {
  const all = [...SHELL_COMMANDS, ...extra];
  const w = Math.max(...all.map((c) => c.usage.length));
  return "commands (paths are inside the image; relative paths start at the current directory):\n" +
    all.map((c) => `  ${c.usage.padEnd(w)}  ${c.does}\n`).join("") +
    "any command's output can go to a file in the image: CMD > FILE, CMD >> FILE (append);\n" +
    "quoting: '...', \"...\", \\x; ';' or a newline separates commands; '#' starts a comment\n";
}

/** The flags a shell command accepts (SHELL_COMMANDS). */
function flagsOf(cmd: string): string { return SHELL_COMMANDS.find((c) => c.name === cmd)?.flags ?? ""; }

/**
 * A small POSIX-flavoured shell over a kernel's fs. Commands run synchronously; a failing
 * command prints `helix: CMD: OPERAND: strerror` through io.err and the shell goes on;
 * `failures` counts them. A kernel panic is not a command failure: it propagates (the kernel
 * is dead and the session must end).
 */
export class Shell {
  /** Current directory (absolute, normalized). */
  cwd = "/";
  /** Commands that failed so far. */
  failures = 0;
  /** Set by `exit`: the status to leave with. */
  exitStatus: number | null = null;
  private lastStatus = 0;

  /** `extra`: the host's own commands (names must not shadow a built-in one). */
  constructor(readonly fs: HelixFs, readonly io: ShellIO, readonly extra: readonly ShellExtension[] = []) {}

  /** Every command name this shell runs: the built-in ones, then the host's. */
  commandNames(): string[] { return [...SHELL_COMMANDS.map((c) => c.name), ...this.extra.map((c) => c.name)]; }

  /** Runs every command of `text`; stops early after `exit`. */
  run(text: string): void {
    let cmds: ParsedCommand[];
    try {
      cmds = parseShell(text);
    } catch (err) {
      if (!(err instanceof ShellError)) throw err;
      this.fail(err.message);
      return;
    }
    for (const c of cmds) {
      if (this.exitStatus !== null) return;
      this.runOne(c);
    }
  }

  /** The prompt of the interactive shell. */
  prompt(): string { return `helix:${this.cwd}# `; }

  private fail(msg: string): void {
    this.failures++;
    this.lastStatus = 1;
    this.io.err(`helix: ${msg}`);
  }

  /** The kernel path of an operand: absolute as is, relative joined onto cwd (the kernel resolves . and ..). */
  abs(p: string): string {
    if (p.startsWith("/")) return p;
    if (p === "" ) return this.cwd;
    return this.cwd === "/" ? `/${p}` : `${this.cwd}/${p}`;
  }

  private runOne(c: ParsedCommand): void {
    const [name, ...args] = c.argv;
    // output goes out as it is made (so `cat a b c` interleaves data and errors in order, as
    // coreutils does); only a redirection collects it for the file
    const chunks: (string | Uint8Array)[] = [];
    const out = c.redirect ? (d: string | Uint8Array) => { chunks.push(d); } : (d: string | Uint8Array) => { this.io.out(d); };
    let ok = true;
    const onErr = (msg: string) => { ok = false; this.fail(msg); };
    try {
      this.dispatch(name, args, out, onErr);
    } catch (err) {
      if (err instanceof KernelPanic) throw err;
      ok = false;
      this.fail(err instanceof ShellError ? err.message : `${name}: ${strerror(err)}`);
    }
    if (c.redirect) {
      const file = this.abs(c.redirect.file);
      const data = Buffer.concat(chunks.map((d) => (typeof d === "string" ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength))));
      try {
        if (c.redirect.append) this.fs.appendFileSync(file, data);
        else this.fs.writeFileSync(file, data);
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        ok = false;
        this.fail(`${c.redirect.file}: ${strerror(err)}`);
      }
    }
    if (ok) this.lastStatus = 0;
  }

  /** Runs `fn` for each operand, printing `cmd: operand: strerror` for the ones that fail. */
  private each(cmd: string, ops: string[], onErr: (m: string) => void, fn: (op: string) => void): void {
    if (ops.length === 0) throw new ShellError(`${cmd}: missing operand`);
    for (const op of ops) {
      try {
        fn(op);
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        onErr(err instanceof ShellError ? err.message : `${cmd}: ${op}: ${strerror(err)}`);
      }
    }
  }

  private isDir(p: string): boolean {
    try { return this.fs.statSync(p).isDirectory(); } catch { return false; }
  }

  private dispatch(name: string, args: string[], out: (d: string | Uint8Array) => void, onErr: (m: string) => void): void {
    const fs = this.fs;
    switch (name) {
      case "help": out(shellHelp(this.extra)); return;
      case "exit": {
        const n = args.length > 0 ? Number(args[0]) : this.lastStatus;
        if (!Number.isInteger(n) || n < 0 || n > 255) throw new ShellError(`exit: ${args[0]}: numeric argument required`);
        this.exitStatus = n;
        return;
      }
      case "pwd": out(this.cwd + "\n"); return;
      case "cd": {
        const target = posix.normalize(this.abs(args[0] ?? "/"));
        if (args.length > 1) throw new ShellError("cd: too many arguments");
        let st;
        try { st = fs.statSync(target); } catch (err) {
          if (err instanceof KernelPanic) throw err;
          throw new ShellError(`cd: ${args[0]}: ${strerror(err)}`);
        }
        if (!st.isDirectory()) throw new ShellError(`cd: ${args[0]}: Not a directory`);
        this.cwd = target.length > 1 ? target.replace(/\/+$/, "") : "/";
        return;
      }
      case "echo": {
        const noNewline = args[0] === "-n";
        out((noNewline ? args.slice(1) : args).join(" ") + (noNewline ? "" : "\n"));
        return;
      }
      case "ls": return this.ls(args, out, onErr);
      case "cat": {
        const { ops } = getopts(args, flagsOf("cat"), "cat");
        this.each("cat", ops, onErr, (op) => out(fs.readFileSync(this.abs(op))));
        return;
      }
      case "mkdir": {
        const { f, ops } = getopts(args, flagsOf("mkdir"), "mkdir");
        this.each("mkdir", ops, onErr, (op) => { fs.mkdirSync(this.abs(op), { recursive: f.has("p") }); });
        return;
      }
      case "rmdir": {
        const { ops } = getopts(args, flagsOf("rmdir"), "rmdir");
        this.each("rmdir", ops, onErr, (op) => fs.rmdirSync(this.abs(op)));
        return;
      }
      case "rm": {
        const { f, ops } = getopts(args, flagsOf("rm"), "rm");
        const recursive = f.has("r") || f.has("R"), force = f.has("f");
        if (ops.length === 0 && force) return;
        this.each("rm", ops, onErr, (op) => {
          const p = this.abs(op);
          if (posix.normalize(p) === "/") throw new ShellError("rm: it is dangerous to operate recursively on '/'");
          let st;
          try { st = fs.lstatSync(p); } catch (err) {
            if (force && errCode(err) === "ENOENT") return;
            throw err;
          }
          if (st.isDirectory()) {
            if (!recursive) throw new ShellError(`rm: ${op}: Is a directory`);
            fs.rmSync(p, { recursive: true, force });
          } else {
            fs.unlinkSync(p);
          }
        });
        return;
      }
      case "mv": {
        const { ops } = getopts(args, flagsOf("mv"), "mv");
        if (ops.length < 2) throw new ShellError(`mv: missing ${ops.length === 0 ? "file operand" : `destination file operand after '${ops[0]}'`}`);
        const dest = ops.pop()!;
        const into = this.isDir(this.abs(dest));
        if (ops.length > 1 && !into) throw new ShellError(`mv: target '${dest}': Not a directory`);
        for (const src of ops) {
          const to = into ? `${this.abs(dest).replace(/\/+$/, "")}/${posix.basename(src)}` : this.abs(dest);
          try { fs.renameSync(this.abs(src), to); } catch (err) {
            if (err instanceof KernelPanic) throw err;
            onErr(`mv: ${src} -> ${dest}: ${strerror(err)}`);
          }
        }
        return;
      }
      case "cp": {
        const { f, ops } = getopts(args, flagsOf("cp"), "cp");
        const recursive = f.has("r") || f.has("R");
        if (ops.length < 2) throw new ShellError(`cp: missing ${ops.length === 0 ? "file operand" : `destination file operand after '${ops[0]}'`}`);
        const dest = ops.pop()!;
        const into = this.isDir(this.abs(dest));
        if (ops.length > 1 && !into) throw new ShellError(`cp: target '${dest}': Not a directory`);
        for (const src of ops) {
          const to = into ? `${this.abs(dest).replace(/\/+$/, "")}/${posix.basename(src)}` : this.abs(dest);
          try {
            if (this.isDir(this.abs(src))) {
              if (!recursive) { onErr(`cp: -r not specified; omitting directory '${src}'`); continue; }
              this.copyTree(this.abs(src), to);
            } else {
              fs.copyFileSync(this.abs(src), to);
            }
          } catch (err) {
            if (err instanceof KernelPanic) throw err;
            onErr(`cp: ${src} -> ${dest}: ${strerror(err)}`);
          }
        }
        return;
      }
      case "ln": {
        const { f, ops } = getopts(args, flagsOf("ln"), "ln");
        if (ops.length !== 2) throw new ShellError("ln: usage: ln [-s] TARGET LINK");
        const [target, link] = ops;
        const lp = this.isDir(this.abs(link)) ? `${this.abs(link).replace(/\/+$/, "")}/${posix.basename(target)}` : this.abs(link);
        try {
          if (f.has("f")) { try { fs.unlinkSync(lp); } catch (err) { if (errCode(err) !== "ENOENT") throw err; } }
          if (f.has("s")) fs.symlinkSync(target, lp);
          else fs.linkSync(this.abs(target), lp);
        } catch (err) {
          if (err instanceof KernelPanic) throw err;
          onErr(`ln: ${link}: ${strerror(err)}`);
        }
        return;
      }
      case "stat": {
        const { ops } = getopts(args, flagsOf("stat"), "stat");
        this.each("stat", ops, onErr, (op) => out(this.statText(op)));
        return;
      }
      case "touch": {
        const { ops } = getopts(args, flagsOf("touch"), "touch");
        this.each("touch", ops, onErr, (op) => {
          const p = this.abs(op);
          fs.closeSync(fs.openSync(p, "a"));
          const now = Date.now() / 1000;
          fs.utimesSync(p, now, now);
        });
        return;
      }
      case "df": {
        const { f } = getopts(args, flagsOf("df"), "df");
        const s = fs.statfsSync("/");
        const k = (n: number) => Math.floor((n * s.bsize) / 1024);
        const used = s.blocks - s.bfree;
        const pct = used + s.bavail > 0 ? Math.ceil((used * 100) / (used + s.bavail)) : 0;
        const h = (n: number) => humanSize(n * s.bsize);
        const row = f.has("h") ? ["vda", h(s.blocks), h(used), h(s.bavail), `${pct}%`, "/"] : ["vda", k(s.blocks), k(used), k(s.bavail), `${pct}%`, "/"];
        out(table([row], ["Filesystem", f.has("h") ? "Size" : "1K-blocks", "Used", f.has("h") ? "Avail" : "Available", "Use%", "Mounted on"]) + "\n");
        const snap = this.io.snapshotBytes?.() ?? 0;
        if (snap > 0) out(`Used includes ${f.has("h") ? humanSize(snap) : `${Math.ceil(snap / 1024)} 1K-blocks`} held only by snapshots\n`);
        return;
      }
      case "sync": {
        const { f, ops } = getopts(args, flagsOf(name), name);
        if (ops.length === 0) { fs.syncSync(); this.io.onSync?.(null); return; }
        const done: string[] = [];
        for (const op of ops) {
          let fd: number;
          try { fd = fs.openSync(this.abs(op), "r"); } catch (err) {
            if (err instanceof KernelPanic) throw err;
            onErr(`sync: error opening '${op}': ${strerror(err)}`);
            continue;
          }
          try {
            if (f.has("d")) fs.fdatasyncSync(fd); else fs.fsyncSync(fd);
            done.push(posix.normalize(this.abs(op)));
          } catch (err) {
            if (err instanceof KernelPanic) throw err;
            onErr(`sync: error syncing '${op}': ${strerror(err)}`);
          } finally {
            fs.closeSync(fd);
          }
        }
        if (done.length > 0) this.io.onSync?.(done);
        return;
      }
      case "tree": {
        // like tree(1): each operand's tree in turn, then one report line for them all
        const { ops } = getopts(args, flagsOf("tree"), "tree");
        const counts = { dirs: 0, files: 0 };
        for (const op of ops.length > 0 ? ops : ["."]) {
          try { out(this.treeText(op, counts)); } catch (err) {
            if (err instanceof KernelPanic || err instanceof ShellError) throw err;
            onErr(`tree: ${op}: ${strerror(err)}`);
          }
        }
        const { dirs, files } = counts;
        out(`\n${dirs} ${dirs === 1 ? "directory" : "directories"}, ${files} ${files === 1 ? "file" : "files"}\n`);
        return;
      }
      default: {
        const ext = this.extra.find((c) => c.name === name);
        if (ext === undefined) throw new ShellError(`${name}: command not found (try 'help')`);
        ext.run(args, out, this);
        return;
      }
    }
  }

  private ls(args: string[], out: (d: string) => void, onErr: (m: string) => void): void {
    const fs = this.fs;
    const { f, ops } = getopts(args, flagsOf("ls"), "ls");
    const long = f.has("l"), all = f.has("a");
    const targets = ops.length > 0 ? ops : ["."];
    const entryLine = (name: string, p: string): string => {
      if (!long) return name;
      const s = fs.lstatSync(p);
      let line = `${modeString(s.mode)} ${String(s.nlink).padStart(3)} ${String(s.uid).padStart(4)} ${String(s.gid).padStart(4)} ` +
        `${String(s.size).padStart(10)} ${shortTime(s.mtimeMs)} ${name}`;
      if (s.isSymbolicLink()) line += ` -> ${fs.readlinkSync(p, "utf8") as string}`;
      return line;
    };
    const files: string[] = [], dirs: string[] = [];
    for (const op of targets) {
      try {
        const p = this.abs(op);
        // like coreutils: -l describes a symlink operand itself (no -H/-L); without -l a
        // symlink to a directory lists the directory
        if (long && !op.endsWith("/") && fs.lstatSync(p).isSymbolicLink()) { files.push(entryLine(op, p)); continue; }
        const st = fs.statSync(p, { throwIfNoEntry: true });
        if (st.isDirectory()) dirs.push(op);
        else files.push(entryLine(op, p));
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        // a dangling symlink still lists
        try { const p = this.abs(op); fs.lstatSync(p); files.push(entryLine(op, p)); }
        catch { onErr(`ls: ${op}: ${strerror(err)}`); }
      }
    }
    let text = files.length > 0 ? files.join("\n") + "\n" : "";
    dirs.forEach((d, i) => {
      const p = this.abs(d);
      try {
        const names = fs.readdirSync(p).filter((n) => all || !n.startsWith("."));
        if (all) names.unshift(".", "..");
        const lines = names.map((n) => entryLine(n, p === "/" ? `/${n}` : `${p.replace(/\/+$/, "")}/${n}`));
        if (targets.length > 1) text += `${text.length > 0 || i > 0 ? "\n" : ""}${d}:\n`;
        if (long) {
          const blocks = names.reduce((a, n) => {
            try { return a + fs.lstatSync(p === "/" ? `/${n}` : `${p.replace(/\/+$/, "")}/${n}`).blocks; } catch { return a; }
          }, 0);
          text += `total ${Math.ceil(blocks / 2)}\n`;
        }
        text += lines.map((l) => l + "\n").join("");
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        onErr(`ls: ${d}: ${strerror(err)}`);
      }
    });
    out(text);
  }

  /**
   * stat(1)'s default output (coreutils 9: `%N`, `%-10s`, `Device: %Hd,%Ld`, uid/gid with
   * names), times with their nanoseconds in UTC.
   */
  private statText(op: string): string {
    const fs = this.fs;
    const p = this.abs(op);
    const s = fs.lstatSync(p, { bigint: true });
    const mode = Number(s.mode);
    const kind = s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symbolic link" : s.isFile() ? (s.size === 0n ? "regular empty file" : "regular file") : "special file";
    const q = (n: string) => `'${n.replace(/'/g, "'\\''")}'`;
    const file = s.isSymbolicLink() ? `${q(op)} -> ${q(fs.readlinkSync(p, "utf8") as string)}` : q(op);
    const dev = Number(s.dev);
    const owner = (id: bigint) => `(${String(id).padStart(5)}/${(id === 0n ? "root" : "UNKNOWN").padStart(8)})`;
    return [
      `  File: ${file}`,
      `  Size: ${String(s.size).padEnd(10)}\tBlocks: ${String(s.blocks).padEnd(10)} IO Block: ${String(s.blksize).padEnd(6)} ${kind}`,
      `Device: ${Math.floor(dev / 256) & 0xfff},${dev & 0xff}\tInode: ${String(s.ino).padEnd(11)} Links: ${s.nlink}`,
      `Access: (${(mode & 0o7777).toString(8).padStart(4, "0")}/${modeString(mode)})  Uid: ${owner(s.uid)}   Gid: ${owner(s.gid)}`,
      `Access: ${fullTime(s.atimeNs)}`,
      `Modify: ${fullTime(s.mtimeNs)}`,
      `Change: ${fullTime(s.ctimeNs)}`,
      ` Birth: ${fullTime(s.birthtimeNs)}`,
    ].join("\n") + "\n";
  }

  /** One operand of `tree`: its lines; adds what it saw to `counts`. */
  private treeText(op: string, counts: { dirs: number; files: number }): string {
    const fs = this.fs;
    const root = this.abs(op);
    if (!fs.statSync(root).isDirectory()) { counts.files++; return `${op}  [error opening dir]\n`; }
    const lines = [op];
    let ndirs = 0, nfiles = 0;
    const walk = (dir: string, prefix: string, depth: number) => {
      if (depth > TREE_DEPTH_MAX) throw new ShellError(`tree: ${op}: nested deeper than ${TREE_DEPTH_MAX}`);
      const ents = fs.readdirSync(dir, { withFileTypes: true });
      ents.forEach((d, i) => {
        const last = i === ents.length - 1;
        const p = dir === "/" ? `/${d.name}` : `${dir.replace(/\/+$/, "")}/${d.name}`;
        let label = d.name;
        if (d.isSymbolicLink()) label += ` -> ${fs.readlinkSync(p, "utf8") as string}`;
        lines.push(`${prefix}${last ? "└── " : "├── "}${label}`);
        if (d.isDirectory()) { ndirs++; walk(p, prefix + (last ? "    " : "│   "), depth + 1); }
        else nfiles++;
      });
    };
    walk(root, "", 0);
    counts.dirs += ndirs;
    counts.files += nfiles;
    return `${lines.join("\n")}\n`;
  }

  /** cp -r within the image: directories, files (copyFileSync) and symlinks (recreated). */
  private copyTree(src: string, dest: string): void {
    const fs = this.fs;
    const srcNorm = posix.normalize(src).replace(/\/+$/, "");
    const destNorm = posix.normalize(dest).replace(/\/+$/, "");
    if (destNorm === srcNorm || destNorm.startsWith(srcNorm + "/")) throw new ShellError(`cp: cannot copy a directory, '${src}', into itself, '${dest}'`);
    const walk = (s: string, d: string, depth: number) => {
      if (depth > TREE_DEPTH_MAX) throw new ShellError(`cp: ${src}: nested deeper than ${TREE_DEPTH_MAX}`);
      const st = fs.statSync(s);
      ensureGuestDir(fs, d, st.mode & 0o7777);
      for (const e of fs.readdirSync(s, { withFileTypes: true })) {
        const sp = `${s}/${e.name}`, dp = `${d}/${e.name}`;
        if (e.isDirectory()) walk(sp, dp, depth + 1);
        else if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(sp, "utf8") as string, dp);
        else fs.copyFileSync(sp, dp);
      }
    };
    walk(srcNorm, destNorm, 0);
  }
}


/**
 * Tab completion: command names for the first word, then paths inside the image (a directory
 * gets a trailing '/'). Returns the candidates (each a full replacement of the word) and the
 * word being completed, as Node's readline completer and the page's terminal take them.
 */
export function completions(shell: Shell, line: string): [string[], string] {
  const word = line.slice(line.search(/\S*$/));
  if (!/\s/.test(line.trimStart()) && !line.includes("/")) {
    const hits = shell.commandNames().filter((c) => c.startsWith(word));
    return [hits.map((h) => h + " "), word];
  }
  const slash = word.lastIndexOf("/");
  const dirPart = slash >= 0 ? word.slice(0, slash + 1) : "";
  const base = slash >= 0 ? word.slice(slash + 1) : word;
  try {
    const dir = shell.abs(dirPart === "" ? "." : dirPart);
    const ents = shell.fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.name.startsWith(base));
    return [ents.map((e) => dirPart + e.name + (e.isDirectory() ? "/" : "")), word];
  } catch {
    return [[], word];
  }
}
