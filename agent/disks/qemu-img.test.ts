// rebaseLayer's crash order, read off the real qemu-img with strace: the header naming the new backing is written
// last, after every cluster and table it depends on has been written and flushed.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { qemuIo } from './qemu-images.test-support.ts';
import { createLayer, rebaseLayer } from './qemu-img.ts';

const root = await mkdtemp(join(tmpdir(), 'mvos-rebase-'));

// Each write and flush to `file` in the trace, in order, as { kind, offset }.
function writesTo(trace: string, file: string): Array<{ kind: 'write' | 'sync'; offset?: number }> {
  const ops: Array<{ kind: 'write' | 'sync'; offset?: number }> = [];
  for (const line of trace.split('\n')) {
    if (!line.includes(`<${file}>`)) continue;
    const write = /pwrite(?:64|v)?\(.*, (\d+)\) = \d+$/.exec(line);
    if (write) ops.push({ kind: 'write', offset: Number(write[1]) });
    else if (/f(data)?sync\(/.test(line)) ops.push({ kind: 'sync' });
  }
  return ops;
}

test('a rebase writes its header last, after a flush of everything it copied', async () => {
  await runTool('qemu-img', ['create', '-q', '-f', 'raw', join(root, 'base.img'), '64M']);
  await createLayer(join(root, 'l1.qcow2'), { file: 'base.img', format: 'raw' });
  await createLayer(join(root, 'l2.qcow2'), { file: 'l1.qcow2', format: 'qcow2' });
  assert.ok(await qemuIo(join(root, 'l2.qcow2'), ['write -P 0x22 1M 8M']));
  await createLayer(join(root, 'top.qcow2'), { file: 'l2.qcow2', format: 'qcow2' });
  // qemu-img found first on PATH runs the real one under strace.
  const bin = join(root, 'bin');
  const trace = join(root, 'trace.txt');
  await runTool('mkdir', ['-p', bin]);
  const real = (await runTool('sh', ['-c', 'command -v qemu-img'])).stdout.trim();
  await writeFile(
    join(bin, 'qemu-img'),
    `#!/bin/sh\nexec strace -f -y -o ${trace} -e trace=pwrite64,pwritev,pwritev2,fdatasync,fsync ${real} "$@"\n`,
  );
  await chmod(join(bin, 'qemu-img'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    await rebaseLayer(join(root, 'top.qcow2'), { file: 'l1.qcow2', format: 'qcow2' });
  } finally {
    process.env.PATH = path;
  }
  const ops = writesTo(await readFile(trace, 'utf8'), join(root, 'top.qcow2'));
  const header = ops.map((op) => op.kind === 'write' && op.offset === 0).lastIndexOf(true);
  assert.ok(ops.filter((op) => op.kind === 'write').length > 4, 'the copy was traced');
  assert.ok(header > 0, 'the header was rewritten');
  assert.equal(
    ops.slice(header + 1).filter((op) => op.kind === 'write'),
    [],
    'nothing is written after the header',
  );
  assert.is(ops[header - 1]?.kind, 'sync', 'what the header points at was flushed before it');
  assert.ok(
    await qemuIo(join(root, 'top.qcow2'), ['read -P 0x22 1M 8M', 'read -P 0 9M 1M'], { readOnly: true }),
    'the top reads its data',
  );
});

test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

test.run();
