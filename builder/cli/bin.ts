// Process entry of the `mvos` command: runs the CLI and sets the exit code.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
