// Reading a password: from standard input (--password-stdin, for scripts) or from the terminal
// without echo, asked twice.
import { CliError } from "./errors.js";

export async function readPasswordFromStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  // One trailing newline (from `echo` or a here-string) is not part of the password.
  const text = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (text.includes("\n")) throw new CliError("--password-stdin: expected one line, got several");
  if (text.length === 0) throw new CliError("--password-stdin: standard input was empty");
  return text;
}

export async function promptPassword(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    throw new CliError(
      "no terminal to ask for the password: pass it on standard input with --password-stdin",
    );
  }
  const first = await askHidden(question);
  const second = await askHidden("Repeat the password: ");
  if (first !== second) throw new CliError("the two passwords differ; nothing was changed");
  if (first.length === 0) throw new CliError("the password is empty; nothing was changed");
  return first;
}

function askHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the question appears, so not even a fast typist's first keys are shown.
  stdin.setRawMode(true);
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let answer = "";
    stdin.resume();
    stdin.setEncoding("utf8");
    const finish = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (data: string) => {
      for (const ch of data) {
        if (ch === "\r" || ch === "\n") return finish();
        if (ch === "\u0003") return finish(new CliError("cancelled", 130));
        if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1);
        else if (ch >= " ") answer += ch;
      }
    };
    stdin.on("data", onData);
  });
}
