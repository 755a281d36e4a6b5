/**
 * Producer/consumer pipeline on tasks: two producers feed a bounded Queue,
 * three workers square the numbers, and a collector sums the results from a
 * second queue. The bound gives back-pressure: producers block in `put`
 * while the workers are busy. `queue.join()` waits for every item to be
 * marked done; one `null` per worker then ends them. Every task runs in one
 * TaskGroup, so a failing stage would stop the others, and the main program
 * awaits the pipeline's task for its summary.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/pipeline.ts
 */

import { EventLoop, Queue, sleep, spawn, TaskGroup } from "../mod.ts";

const ITEMS_PER_PRODUCER = 10;
const WORKERS = 3;
const QUEUE_SIZE = 4;

using loop = new EventLoop();
const jobs = new Queue<number | null>(QUEUE_SIZE);
const results = new Queue<{ worker: number; square: number } | null>();
let largestBacklog = 0;
const started = loop.time();

const pipeline = spawn(function* () {
  using group = new TaskGroup();
  for (const producer of [0, 1]) {
    group.spawn(function* () {
      for (let i = 1; i <= ITEMS_PER_PRODUCER; i++) {
        // Blocks while the queue holds QUEUE_SIZE items.
        yield* jobs.put(producer * ITEMS_PER_PRODUCER + i);
        largestBacklog = Math.max(largestBacklog, jobs.qsize());
      }
      console.log(`producer ${producer}: done`);
    });
  }

  for (let worker = 0; worker < WORKERS; worker++) {
    group.spawn(function* () {
      while (true) {
        const n = yield* jobs.get();
        if (n === null) break;
        yield* sleep(1 + worker); // "work": slower workers take fewer jobs
        yield* results.put({ worker, square: n * n });
        jobs.taskDone();
      }
    });
  }

  group.spawn(function* () {
    yield* jobs.join();
    for (let worker = 0; worker < WORKERS; worker++) yield* jobs.put(null);
    yield* results.put(null);
  });

  group.spawn(function* () {
    const perWorker = new Array<number>(WORKERS).fill(0);
    let count = 0;
    let sum = 0;
    while (true) {
      const result = yield* results.get();
      if (result === null) break;
      count++;
      sum += result.square;
      perWorker[result.worker]++;
    }
    console.log(`consumed ${count} items, sum of squares ${sum}`);
    console.log(`jobs per worker: ${perWorker.join(" ")}`);
  });
  // Until every stage ended; a stage that threw would be thrown here.
  yield* group.join();
  return `largest backlog: ${largestBacklog} (bound ${QUEUE_SIZE})`;
});

const running = loop.run();
console.log(await pipeline); // a Task is awaitable: its result
await running;
console.log(`pipeline finished in ${Math.round(loop.time() - started)} ms`);
