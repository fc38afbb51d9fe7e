import { bench, BENCH_HELP } from './bench.js';
import { serve, SERVE_HELP } from './serve.js';

export const MAIN_HELP = `Usage: blkkin <command> [options]

blkkin: live, cross-layer distributed tracing for storage systems (after BlkKin).

Commands:
  serve     run the collector, store, query API and live stream (port 9411)
  bench     run a benchmark and print its figures (blkkin bench ingest --json)
  help      show help for a command: blkkin help serve

Run 'blkkin <command> --help' for a command's options.
`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  serve: { run: serve, help: SERVE_HELP },
  bench: { run: bench, help: BENCH_HELP },
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(MAIN_HELP);
    return command === undefined ? 1 : 0;
  }
  if (command === 'help') {
    const topic = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(topic ? topic.help : MAIN_HELP);
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`blkkin: unknown command '${command}'\n\n${MAIN_HELP}`);
    return 2;
  }
  return entry.run(rest);
}
