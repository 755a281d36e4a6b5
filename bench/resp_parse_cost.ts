/**
 * What the RESP servers' shared work costs per command without any I/O:
 * `parseCommand` + `Store.execute` (bench/servers/resp_protocol.ts) over the
 * commands `redis-benchmark -t ping,set,get` sends, in memory, with the
 * parser's arguments as views of the buffer (as the Deno twin runs it since
 * the fourth day) and with a `slice()` copy of every argument (as it ran
 * before). CPU time per command, best of 15 rounds. Run:
 * `deno run bench/resp_parse_cost.ts`.
 *
 * @module
 */

import { parseCommand, type Parsed, Store } from "./servers/resp_protocol.ts";

const COMMANDS = [
  "PING\r\n",
  "*1\r\n$4\r\nPING\r\n",
  "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n",
  "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n",
];
const COUNT = 1 << 16;
const ROUNDS = 15;

const text: string[] = [];
for (let i = 0; i < COUNT; i++) text.push(COMMANDS[i % COMMANDS.length]);
const input = new TextEncoder().encode(text.join(""));

/** ns per command for one pass over `input`. */
function pass(copyArguments: boolean): number {
  // With every argument copied, the store keeps its copy as the old twin did.
  const store = new Store({ copyValues: !copyArguments });
  const start = performance.now();
  let at = 0;
  for (
    let parsed: Parsed | null;
    (parsed = parseCommand(input, at, input.length)) !== null;
  ) {
    const args = copyArguments
      ? parsed.args.map((arg) => arg.slice())
      : parsed.args;
    store.execute(args);
    at = parsed.next;
  }
  return (performance.now() - start) * 1e6 / COUNT;
}

const best = { views: Infinity, copies: Infinity };
for (let round = 0; round < ROUNDS; round++) {
  best.views = Math.min(best.views, pass(false));
  best.copies = Math.min(best.copies, pass(true));
}
console.log(
  `views (the store copies the SET value): ${best.views.toFixed(0)} ns/command`,
);
console.log(
  `every argument copied by slice():      ${best.copies.toFixed(0)} ns/command`,
);
