import type { CompressEvent } from '@dbf/compress';
import cliProgress from 'cli-progress';
import type { CliContext } from '../context';

/**
 * Shows a compression's progress: on a terminal, a progress bar per layer with the iteration and the
 * current error; elsewhere (logs, CI, tests), one line per finished layer.
 */
export function progressReporter(
  ctx: CliContext,
  interactive: boolean,
): {
  onEvent(event: CompressEvent): void;
  stop(): void;
} {
  let bar: cliProgress.SingleBar | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    stop: stopBar,
    onEvent(e) {
      switch (e.type) {
        case 'stage':
          if (e.stage === 'statistics') ctx.err('Non-uniform allocation: measuring input statistics…');
          if (e.stage === 'curves')
            ctx.err('Measuring each layer’s error at a few ranks (short factorizations)…');
          if (e.stage === 'sensitivity') ctx.err('Measuring each layer’s effect on the model’s predictions…');
          return;
        case 'curve':
        case 'sensitivity':
          if (e.done === e.total || e.done % 10 === 0) ctx.err(`  ${e.type} ${e.done}/${e.total}`);
          return;
        case 'layer-start': {
          if (!interactive) return;
          const label = `[${e.index + 1}/${e.total}] ${e.name}`;
          const iterative = e.target.method === 'dbf' || e.target.method === 'mdbf';
          bar = new cliProgress.SingleBar(
            {
              format: `${label} |{bar}| {value}/{total} it | err {err}`,
              hideCursor: true,
              clearOnComplete: true,
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(iterative ? e.iterations : 1, 0, { err: '–' });
          return;
        }
        case 'layer-progress':
          bar?.update(e.iteration, { err: e.relativeError.toFixed(4) });
          return;
        case 'layer-done': {
          stopBar();
          const r = e.result;
          const rank =
            r.rank !== undefined
              ? ` k=${r.rank}${r.envelopeRank && r.envelopeRank > 1 ? ` l=${r.envelopeRank}` : ''}`
              : '';
          ctx.err(
            `[${e.index + 1}/${e.total}] ${e.name}${rank} ${r.bitsPerWeight.toFixed(3)} bpw, rel error ${r.relativeError.toFixed(4)}` +
              (e.resumed ? ' (from checkpoint)' : ` in ${r.seconds.toFixed(1)} s`),
          );
          return;
        }
        case 'block-done':
          ctx.err(`decoder layer ${e.layer}: drift from the original ${e.drift.toFixed(4)}`);
          return;
      }
    },
  };
}
