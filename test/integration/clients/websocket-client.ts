/**
 * A kernel-side WebSocket client for integration tests (undici's WebSocket, an implementation
 * independent of the example's codec, on kernel sockets inside the test's namespace): opens
 * URL, sends one text message, prints the echo, closes with 1000 and prints the close event.
 *
 *   tsx websocket-client.ts ws://10.0.1.2:8081/ MESSAGE
 * Prints "echo TEXT" and "close CODE clean=BOOL"; exits 1 on an error or after 20 s.
 */
import { WebSocket } from 'undici';

const [url, message] = process.argv.slice(2);
const timer = setTimeout(() => {
  console.error('timed out');
  process.exit(1);
}, 20_000);
const socket = new WebSocket(url!);
socket.addEventListener('open', () => socket.send(message!));
socket.addEventListener('message', (event) => {
  console.log(`echo ${String(event.data)}`);
  socket.close(1000);
});
socket.addEventListener('error', () => {
  console.error('websocket error');
  process.exit(1);
});
socket.addEventListener('close', (event) => {
  console.log(`close ${event.code} clean=${event.wasClean}`);
  clearTimeout(timer);
});
