import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isKbuildStep, kbuildNote } from './kbuild.ts';

// Output in the shape `make tinyconfig`, merge_config.sh, `make olddefconfig` and `make -j2 bzImage` give on
// linux-source-6.1 (shortened, written for this test), with a compiler warning and make's own lines among the steps.
const SAMPLE = `  HOSTCC  scripts/basic/fixdep
  HOSTCC  scripts/kconfig/conf.o
  LEX     scripts/kconfig/lexer.lex.c
  YACC    scripts/kconfig/parser.tab.[ch]
  HOSTLD  scripts/kconfig/conf
#
# configuration written to .config
#
Using .config as base
Merging ../fragments/base.config
Value of CONFIG_PRINTK is redefined by fragment ../fragments/base.config:
Previous value: # CONFIG_PRINTK is not set
New value: CONFIG_PRINTK=y

#
# merged configuration written to .config (needs make)
#
#
# configuration written to .config
#
  SYNC    include/config/auto.conf.cmd
  SYSHDR  arch/x86/include/generated/uapi/asm/unistd_32.h
  WRAP    arch/x86/include/generated/uapi/asm/bpf_perf_event.h
  UPD     include/generated/uapi/linux/version.h
  HOSTCC  arch/x86/tools/relocs_32.o
  CC      scripts/mod/empty.o
  CC      kernel/bounds.s
  CALL    scripts/checksyscalls.sh
  DESCEND objtool
  INSTALL libsubcmd_headers
  AS      arch/x86/entry/entry_64.o
  CC      kernel/fork.o
kernel/fork.c: In function 'copy_process':
kernel/fork.c:2103:13: warning: unused variable 'x' [-Wunused-variable]
 2103 |         int x;
      |             ^
  AR      kernel/built-in.a
make[1]: Leaving directory '/build/linux-source-6.1'
  LD      vmlinux.o
  MODPOST vmlinux.symvers
  OBJCOPY arch/x86/boot/compressed/vmlinux.bin
  ZSTD22  arch/x86/boot/compressed/vmlinux.bin.zst
  MKPIGGY arch/x86/boot/compressed/piggy.S
  BUILD   arch/x86/boot/bzImage
Kernel: arch/x86/boot/bzImage is ready  (#1)
`;

test('every kbuild step line of a recorded build counts, and nothing else', () => {
  const steps = SAMPLE.split('\n').filter(isKbuildStep);
  assert.is(steps.length, 24);
  assert.equal(steps.slice(0, 3).map(kbuildNote), [
    'HOSTCC scripts/basic/fixdep',
    'HOSTCC scripts/kconfig/conf.o',
    'LEX scripts/kconfig/lexer.lex.c',
  ]);
  assert.is(kbuildNote(steps.at(-1)!), 'BUILD arch/x86/boot/bzImage');
  for (const other of [
    '#',
    '# configuration written to .config',
    'Using .config as base',
    "kernel/fork.c:2103:13: warning: unused variable 'x' [-Wunused-variable]",
    ' 2103 |         int x;',
    '      |             ^',
    "make[1]: Leaving directory '/build/linux-source-6.1'",
    'Kernel: arch/x86/boot/bzImage is ready  (#1)',
    '    CC      four/spaces.o',
    '  cc      lower/case.o',
    '  CC',
    '',
  ])
    assert.not.ok(isKbuildStep(other), other);
});

test.run();
