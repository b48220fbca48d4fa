// Errors the CLI reports to a person: one line that says what went wrong and what to do.
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}
