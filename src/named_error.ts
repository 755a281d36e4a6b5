/**
 * The base of the library's own error classes: an error's `name` is its
 * class's name, and a class may give the message used when none is passed.
 *
 * @module
 */

/**
 * An `Error` whose `name` is the name of the class it was made as, and
 * whose message, when none is given, is that class's `defaultMessage`.
 * `TaskExit`, `FiberError`, `QueueEmpty`, `CancelledError`, `StreamError`
 * and the library's other errors extend it; so can a user's.
 *
 * @example
 * ```ts
 * import { NamedError } from "./named_error.ts";
 *
 * class ParseError extends NamedError {
 *   static override readonly defaultMessage = "the input did not parse";
 * }
 * const error = new ParseError();
 * console.log(error.name, error.message); // ParseError the input did not parse
 * console.log(new ParseError("line 3").message); // line 3
 * console.log(error instanceof Error); // true
 * ```
 */
export class NamedError extends Error {
  /** The message of an error made without one (a subclass sets its own). */
  static readonly defaultMessage: string = "";

  /**
   * Creates the error.
   *
   * @param message what went wrong; the class's `defaultMessage` if omitted
   * @param options the standard `cause`
   */
  constructor(message?: string, options?: ErrorOptions) {
    super(
      message ?? (new.target as typeof NamedError).defaultMessage,
      options,
    );
    this.name = new.target.name;
  }
}
