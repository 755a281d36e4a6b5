// TCP ping-pong with Node's `net`, client and server in one process: a peer
// figure for bench/tcp_pingpong.ts. Prints one JSON line { roundTripsPerSecond }.
//
//   node bench/peers/tcp_pingpong_node.mjs ROUNDS SIZE
import net from "node:net";

const rounds = Number(process.argv[2] ?? 100000);
const size = Number(process.argv[3] ?? 1);
const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = 0;
  socket.on("data", (chunk) => {
    pending += chunk.length;
    while (pending >= size) {
      pending -= size;
      socket.write(Buffer.alloc(size));
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  const client = net.connect({
    port: server.address().port,
    host: "127.0.0.1",
    noDelay: true,
  });
  const message = Buffer.alloc(size);
  let done = 0;
  let received = 0;
  let start = 0;
  client.on("connect", () => {
    start = performance.now();
    client.write(message);
  });
  client.on("data", (chunk) => {
    received += chunk.length;
    while (received >= size) {
      received -= size;
      if (++done === rounds) {
        const seconds = (performance.now() - start) / 1000;
        console.log(JSON.stringify({ roundTripsPerSecond: rounds / seconds }));
        client.destroy();
        server.close();
        return;
      }
      client.write(message);
    }
  });
});
