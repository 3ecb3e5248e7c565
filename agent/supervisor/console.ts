// The VMs' serial consoles for the controls: the capped log, live output, and one broker per VM for interactive
// sessions.
import { ConsoleBroker, type ConsoleSession, type ConsoleViewer, socketInput } from '../console/broker.ts';
import { consoleFiles, openConsole } from '../console/reader.ts';
import { consoleText } from '../console/text.ts';
import type { VmPaths } from '../launch/vm.ts';

// The consoles of a host's VMs; every viewer of a VM shares its one console reader, so new output is read once.
export class VmConsoles {
  private readonly brokers = new Map<string, ConsoleBroker>();

  // The tail is read by seeking (its cost does not grow with the log); without tailBytes, all the capped log keeps.
  async log(paths: VmPaths, options: { tailBytes?: number } = {}): Promise<string> {
    const feed = openConsole(consoleFiles(paths));
    try {
      return consoleText(await feed.tail(options.tailBytes));
    } finally {
      void feed.release();
    }
  }

  // Calls onData with new output (after the last `back` bytes when given) until the returned function is called.
  follow(paths: VmPaths, onData: (chunk: Buffer) => void, options?: { back?: number }): () => void {
    const feed = openConsole(consoleFiles(paths));
    feed.subscribe((chunk) => onData(chunk), options);
    return () => void feed.release();
  }

  // One broker per VM, made on first use: output from the VM's one reader, input on QEMU's console socket (connected
  // while someone holds the keyboard).
  open(
    name: string,
    paths: VmPaths,
    viewer: ConsoleViewer,
    options: { write?: boolean; force?: boolean; back?: number } = {},
  ): ConsoleSession {
    let broker = this.brokers.get(name);
    if (!broker) {
      broker = new ConsoleBroker(name, {
        follow: (listener, back) => this.follow(paths, listener, { back }),
        connect: () => socketInput(paths.console),
      });
      this.brokers.set(name, broker);
    }
    return broker.open(viewer, options);
  }
}
