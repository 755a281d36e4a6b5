/**
 * How far a regular expression can look from where a match attempt starts,
 * for `Stream.readUntilRegex`'s incremental search: when an attempt at
 * position `s` inspects at most `reach` characters (`s` to
 * `s + reach - 1`, lookaheads and a trailing `\b` included) and may look
 * at the one character before `s` (`\b`, `\B`), then once the text holds
 * `s + reach` characters, more text cannot change that attempt's outcome.
 * So after a search of `length` characters found nothing, no match can
 * start before `length - reach + 1`, and the next search starts there.
 *
 * The analysis is conservative: lookbehind, `^`, `$` and backreferences
 * (whose outcome depends on text farther away) make a pattern
 * non-incremental, and `*`, `+`, `{n,}` make its reach unbounded (a match
 * may then start anywhere, so every search starts over).
 *
 * {@linkcode compileRegex} caches a RegExp's search pattern with its reach
 * for `Stream.readUntilRegex` (and `TLSStream`'s, which searches from the
 * start each time).
 *
 * @module
 */

/** What {@linkcode regexReach} found. */
export interface RegexReach {
  /**
   * The most characters an attempt inspects from its start (Infinity when
   * unbounded); meaningful only when `incremental`.
   */
  reach: number;
  /** False for patterns with lookbehind, `^`, `$` or backreferences. */
  incremental: boolean;
}

/** A pattern ready for `readUntilRegex`'s search ({@linkcode compileRegex}). */
export interface CompiledRegex {
  /** The RegExp's source when compiled. */
  source: string;
  /** The RegExp's flags when compiled. */
  flags: string;
  /** The pattern without `y`, with `g` (searches from `lastIndex`). */
  pattern: RegExp;
  /** {@linkcode regexReach}'s reach; Infinity: every search starts over. */
  reach: number;
}

const compiledRegexes = new WeakMap<RegExp, CompiledRegex>();

/**
 * `regex` ready for `readUntilRegex`'s incremental search, cached per
 * RegExp (compiled again if its source or flags changed).
 *
 * @example
 * ```ts
 * import { compileRegex } from "./regex_reach.ts";
 * const compiled = compileRegex(/\r?\n/y);
 * console.log(compiled.pattern.flags, compiled.reach); // "g" 2
 * ```
 */
export function compileRegex(regex: RegExp): CompiledRegex {
  const { source, flags } = regex;
  const cached = compiledRegexes.get(regex);
  if (
    cached !== undefined && cached.source === source && cached.flags === flags
  ) {
    return cached;
  }
  const analysis = regexReach(source, flags);
  const compiled = {
    source,
    flags,
    pattern: new RegExp(source, flags.replace(/[gy]/g, "") + "g"),
    reach: analysis.incremental ? analysis.reach : Infinity,
  };
  compiledRegexes.set(regex, compiled);
  return compiled;
}

interface Part {
  /** Characters consumed, at most. */
  width: number;
  /** Characters inspected from the part's start, at most (>= width). */
  inspect: number;
}

class NotIncremental extends Error {}

/**
 * The reach of `source` under `flags` (a RegExp's `source` and `flags`).
 *
 * @example
 * ```ts
 * import { regexReach } from "./regex_reach.ts";
 * console.log(regexReach(/\r?\n/.source, "")); // { reach: 2, incremental: true }
 * ```
 */
export function regexReach(source: string, flags: string): RegexReach {
  try {
    const parser = new Parser(source, flags.includes("v"));
    const part = parser.alternation();
    if (parser.at < source.length) {
      return { reach: Infinity, incremental: false };
    }
    return { reach: part.inspect, incremental: true };
  } catch (error) {
    if (error instanceof NotIncremental) {
      return { reach: Infinity, incremental: false };
    }
    throw error;
  }
}

class Parser {
  at = 0;
  constructor(readonly source: string, readonly setMode: boolean) {}

  alternation(): Part {
    let best = this.sequence();
    while (this.source[this.at] === "|") {
      this.at++;
      const next = this.sequence();
      best = {
        width: Math.max(best.width, next.width),
        inspect: Math.max(best.inspect, next.inspect),
      };
    }
    return best;
  }

  sequence(): Part {
    let width = 0;
    let inspect = 0;
    while (this.at < this.source.length) {
      const c = this.source[this.at];
      if (c === "|" || c === ")") break;
      const atom = this.atom();
      const part = this.quantified(atom);
      inspect = Math.max(inspect, width + part.inspect);
      width += part.width;
    }
    return { width, inspect };
  }

  quantified(atom: Part): Part {
    const s = this.source;
    let max = 1;
    const c = s[this.at];
    if (c === "*" || c === "+") {
      this.at++;
      max = Infinity;
    } else if (c === "?") {
      this.at++;
    } else if (c === "{") {
      const found = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.at));
      if (found === null) return atom; // a literal brace (no quantifier)
      this.at += found[0].length;
      max = found[2] === undefined
        ? Number(found[1])
        : found[3] === ""
        ? Infinity
        : Number(found[3]);
    } else {
      return atom;
    }
    if (s[this.at] === "?") this.at++; // lazy
    if (max === 0) return { width: 0, inspect: 0 };
    if (max === Infinity) {
      return atom.inspect === 0 ? atom : { width: Infinity, inspect: Infinity };
    }
    return {
      width: atom.width * max,
      inspect: atom.width * (max - 1) + atom.inspect,
    };
  }

  atom(): Part {
    const s = this.source;
    const c = s[this.at++];
    switch (c) {
      case "^":
      case "$":
        throw new NotIncremental();
      case ".":
        return { width: 1, inspect: 1 };
      case "[":
        this.characterClass();
        return { width: 1, inspect: 1 };
      case "\\":
        return this.escape();
      case "(":
        return this.group();
      default:
        return { width: 1, inspect: 1 };
    }
  }

  group(): Part {
    const s = this.source;
    let lookahead = false;
    if (s[this.at] === "?") {
      const next = s[this.at + 1];
      if (next === "=" || next === "!") {
        lookahead = true;
        this.at += 2;
      } else if (
        next === "<" && (s[this.at + 2] === "=" || s[this.at + 2] === "!")
      ) {
        throw new NotIncremental(); // lookbehind
      } else if (next === "<") {
        const close = s.indexOf(">", this.at);
        if (close < 0) throw new NotIncremental();
        this.at = close + 1; // named group
      } else {
        // (?:...) and modifier groups (?i:...), (?-i:...)
        const colon = /^\?[a-z]*(-[a-z]*)?:/.exec(s.slice(this.at));
        if (colon === null) throw new NotIncremental();
        this.at += colon[0].length;
      }
    }
    const inner = this.alternation();
    if (s[this.at] !== ")") throw new NotIncremental();
    this.at++;
    return lookahead ? { width: 0, inspect: inner.inspect } : inner;
  }

  escape(): Part {
    const s = this.source;
    const c = s[this.at++];
    if (c === undefined) throw new NotIncremental();
    if (c === "b" || c === "B") return { width: 0, inspect: 1 };
    if (c >= "1" && c <= "9") throw new NotIncremental(); // backreference
    if (c === "k" && s[this.at] === "<") throw new NotIncremental();
    if (c === "x") this.at += 2;
    else if (c === "u") {
      if (s[this.at] === "{") this.at = s.indexOf("}", this.at) + 1;
      else this.at += 4;
    } else if (c === "c") this.at += 1;
    else if (c === "p" || c === "P") {
      // In v mode a property may match a string of several characters.
      if (this.setMode) throw new NotIncremental();
      if (s[this.at] === "{") this.at = s.indexOf("}", this.at) + 1;
    }
    if (this.at <= 0) throw new NotIncremental();
    return { width: 1, inspect: 1 };
  }

  characterClass(): void {
    const s = this.source;
    let depth = 1;
    while (this.at < s.length) {
      const c = s[this.at++];
      if (c === "\\") {
        // A class string (\q{...}) in v mode may match several characters.
        if (this.setMode && s[this.at] === "q") throw new NotIncremental();
        this.at++;
      } else if (c === "[" && this.setMode) {
        depth++;
      } else if (c === "]") {
        if (--depth === 0) return;
      }
    }
    throw new NotIncremental();
  }
}
