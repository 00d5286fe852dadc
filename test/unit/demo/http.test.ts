/**
 * The demo HTTP service's routes (createDemoHttpServer), served on the kernel's sockets as the
 * benchmark's kernel side serves them: the page, /stats, /bytes/N, HEAD, /upload, 404.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoHttpServer } from '../../../src/demo/services.js';
import { createLogger } from '../../../src/log.js';

describe('demo HTTP service', () => {
  const server = createDemoHttpServer(
    {
      addressText: '10.0.0.2',
      address6Text: 'fd00::2',
      uptimeMs: () => 1234,
      stats: () => ({ requests: 1 }),
      counterText: () => 'tcp: a=1\nip: b=2\n',
    },
    createLogger('error'),
  );
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('GET / answers the page, a line each, with and without a query', async () => {
    const page =
      'tsnet-stack: a userspace TCP/IP stack in TypeScript\naddress: 10.0.0.2\naddress6: fd00::2\nuptime: 1.2 s\ntcp: a=1\nip: b=2\n';
    for (const path of ['/', '/?x=1']) {
      const response = await fetch(base + path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await response.text()).toBe(page);
    }
  });

  it('GET /stats answers JSON', async () => {
    const response = await fetch(`${base}/stats`);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ requests: 1 });
  });

  it('GET /bytes/N streams the pattern; HEAD only its length; a too large N is 400', async () => {
    const bytes = new Uint8Array(await (await fetch(`${base}/bytes/70000`)).arrayBuffer());
    expect(bytes.length).toBe(70000);
    expect(bytes.every((byte, i) => byte === i % 251)).toBe(true);
    const head = await fetch(`${base}/bytes/5`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('5');
    expect((await fetch(`${base}/bytes/${2 ** 40}`)).status).toBe(400);
  });

  it('POST /upload answers the count and SHA-256; other paths and methods are 404', async () => {
    const body = Buffer.alloc(100_000, 7);
    const response = await fetch(`${base}/upload`, { method: 'POST', body });
    expect(await response.text()).toBe(`100000 ${createHash('sha256').update(body).digest('hex')}\n`);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    expect((await fetch(`${base}/upload`)).status).toBe(404);
    expect((await fetch(`${base}/bytes/1`, { method: 'POST' })).status).toBe(404);
  });
});
