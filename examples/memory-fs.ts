/**
 * A runnable example of the library API: serve an in-memory filesystem to a VM.
 *
 *   npm run build
 *   node dist/examples/memory-fs.js /tmp/memfs.sock          # then start QEMU against the socket:
 *   qemu-system-x86_64 … -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \
 *     -chardev socket,id=char0,path=/tmp/memfs.sock -device vhost-user-fs-pci,chardev=char0,tag=memfs
 *   # in the guest:  mount -t virtiofs memfs /mnt && cat /mnt/hello.txt
 *
 * Outside this repository, import from 'virtiofsd-ts' instead of '../src/index.js'.
 * When the guest goes away the example prints what the guest left in the tree and exits.
 */
import { fileURLToPath } from 'node:url';
import { FuseError, MemoryFileSystem, serve, type Context } from '../src/index.js';

/** What the example puts in the tree before the guest arrives (the e2e test checks the guest sees it). */
export const EXAMPLE_FILES: Readonly<Record<string, string>> = {
  '/hello.txt': 'Hello from an in-memory filesystem served by virtiofsd-ts\n',
  '/docs/readme.md': '# docs\nEverything here lives in the daemon\'s memory.\n',
};

/**
 * "Write your own": a file system is a class with one async method per FUSE operation; throw a
 * FuseError to answer with an errno. This one is the in-memory tree with one rule added: Markdown
 * files cannot be deleted (unlink answers EPERM).
 */
export class ExampleFs extends MemoryFileSystem {
  override async unlink(ctx: Context, parent: bigint, name: Buffer): Promise<void> {
    if (name.toString('utf8').endsWith('.md')) throw new FuseError('EPERM', 'Markdown files are kept');
    return super.unlink(ctx, parent, name);
  }
}

export function createExampleFs(): ExampleFs {
  const fs = new ExampleFs();
  for (const [path, text] of Object.entries(EXAMPLE_FILES)) fs.writeFile(path, text);
  fs.addDirectory('/inbox');
  return fs;
}

async function main(): Promise<void> {
  const socketPath = process.argv[2] ?? '/tmp/virtiofsd-ts-memory.sock';
  const filesystem = createExampleFs();
  const server = await serve({ socketPath, filesystem, logLevel: 'info', metrics: { port: 0 } });
  console.log(`serving an in-memory tree on ${socketPath}; metrics on ${server.metricsUrl}`);
  process.on('SIGINT', () => void server.stop());
  process.on('SIGTERM', () => void server.stop());
  await server.done;
  console.log('the guest left /inbox holding:', filesystem.list('/inbox'));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
