// The page: wires the UI modules to the worker. All computation happens in the worker
// (worker/engine.worker.ts); this file only sends requests and renders what comes back.
import type { BackendChoice, Environment, GenerateSummary, ModelSource, Slot } from './protocol';
import { BackendPicker } from './ui/backend-picker';
import { Banner } from './ui/banner';
import { el, query } from './ui/dom';
import { ModelCard } from './ui/model-card';
import { OutputPanel } from './ui/output-panel';
import { errorInfo, WorkerClient } from './ui/worker-client';

const client = new WorkerClient(
  new Worker(new URL('./worker/engine.worker.ts', import.meta.url), { type: 'module' }),
);

// The worker fetches with absolute URLs: its own base is the worker script, not the page.
const root = new URL(import.meta.env.BASE_URL, window.location.href);
const BUNDLED: Record<Slot, ModelSource> = {
  compressed: {
    kind: 'url',
    base: new URL('models/sotu-3m-dbf/', root).href,
    label: 'bundled: sotu-3m, DBF-compressed at build time',
  },
  reference: {
    kind: 'url',
    base: new URL('models/sotu-3m/', root).href,
    label: 'bundled: sotu-3m, the original',
  },
};

const banner = new Banner();
const picker = new BackendPicker();
const cards = {
  compressed: new ModelCard(
    'compressed',
    BUNDLED.compressed,
    (source) => void loadModel('compressed', source),
  ),
  reference: new ModelCard('reference', BUNDLED.reference, (source) => void loadModel('reference', source)),
};
const outputs = { compressed: new OutputPanel('compressed'), reference: new OutputPanel('reference') };
const form = query<HTMLFormElement>('#prompt-form');
const runButton = query<HTMLButtonElement>('#run');
const stopButton = query<HTMLButtonElement>('#stop');
const comparison = query('#comparison');

const state = {
  choice: 'auto' as BackendChoice,
  backendReady: false,
  loaded: { compressed: false, reference: false } as Record<Slot, boolean>,
  busy: 0,
  runId: 0,
  running: false,
  stopRequested: false,
};

/** Controls follow one rule: nothing that changes the worker's state while it is busy with another change. */
function refresh(): void {
  const idle = state.busy === 0 && !state.running;
  picker.setEnabled(idle);
  for (const card of Object.values(cards)) card.setEnabled(idle);
  runButton.disabled = !idle || !state.backendReady || !state.loaded.compressed;
  stopButton.disabled = !state.running;
}

async function busy<T>(task: () => Promise<T>): Promise<T> {
  state.busy++;
  refresh();
  try {
    return await task();
  } finally {
    state.busy--;
    refresh();
  }
}

async function useBackend(choice: BackendChoice): Promise<void> {
  state.choice = choice;
  state.backendReady = false;
  picker.select(choice);
  picker.switching(choice);
  await busy(async () => {
    try {
      const active = await client.call('useBackend', { choice });
      state.backendReady = true;
      picker.active(active);
      banner.hide();
    } catch (error) {
      picker.failed(choice);
      banner.show(errorInfo(error));
    }
  });
}

async function loadModel(slot: Slot, source: ModelSource): Promise<void> {
  state.loaded[slot] = false;
  cards[slot].loading(source.label);
  await busy(async () => {
    try {
      cards[slot].ready(await client.call('load', { slot, source }));
      state.loaded[slot] = true;
    } catch (error) {
      cards[slot].failed(errorInfo(error));
    }
  });
}

async function generate(): Promise<void> {
  const prompt = query<HTMLTextAreaElement>('#prompt').value;
  const number = (id: string, fallback: number) => {
    const value = Number(query<HTMLInputElement>(id).value);
    return Number.isFinite(value) ? value : fallback;
  };
  const params = {
    prompt,
    maxTokens: Math.max(1, Math.floor(number('#max-tokens', 48))),
    temperature: Math.max(0, number('#temperature', 0)),
    topP: 0.9,
    seed: Math.max(0, Math.floor(number('#seed', 0))),
  };
  const compare = query<HTMLInputElement>('#compare').checked;
  const slots: Slot[] = compare ? ['compressed', 'reference'] : ['compressed'];
  const runId = ++state.runId;
  state.running = true;
  state.stopRequested = false;
  comparison.textContent = '';
  refresh();
  outputs.compressed.start(prompt);
  if (compare) outputs.reference.queued(prompt);
  else outputs.reference.skipped();
  const results: Partial<Record<Slot, GenerateSummary>> = {};
  try {
    for (const slot of slots) {
      if (state.stopRequested) {
        outputs[slot].skipped();
        break;
      }
      if (!state.loaded[slot]) {
        outputs[slot].failed({
          kind: 'model-load',
          title: 'No model loaded',
          message: `Load a ${slot} model first.`,
        });
        continue;
      }
      outputs[slot].start(prompt);
      try {
        results[slot] = await client.call('generate', { runId, slot, ...params });
        outputs[slot].done(results[slot]!);
      } catch (error) {
        outputs[slot].failed(errorInfo(error));
      }
    }
  } finally {
    state.running = false;
    refresh();
  }
  const [a, b] = [results.compressed, results.reference];
  if (a && b && a.decodeTokensPerSecond > 0 && b.decodeTokensPerSecond > 0) {
    const speed = a.decodeTokensPerSecond / b.decodeTokensPerSecond;
    const same = a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i]);
    comparison.textContent =
      `Compressed decodes at ${speed.toFixed(2)}× the speed of the fp32 original on ${a.backend}; ` +
      (same ? 'the two outputs are identical.' : 'the outputs differ, as expected at ~1.5 bits per weight.');
  }
}

client.onEvent((event) => {
  switch (event.type) {
    case 'progress':
      cards[event.slot].progress(event);
      break;
    case 'token':
      if (event.runId === state.runId) outputs[event.slot].token(event);
      break;
    case 'device-lost':
      state.backendReady = false;
      picker.failed(state.choice);
      refresh();
      banner.show(event.error, { label: 'Re-create the backend', run: () => void useBackend(state.choice) });
      break;
    case 'fatal':
      banner.show(event.error);
      break;
  }
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!runButton.disabled) void generate();
});
stopButton.addEventListener('click', () => {
  state.stopRequested = true;
  void client.call('cancel', { runId: state.runId });
});

function describeEnvironment(env: Environment): void {
  const isolation = env.crossOriginIsolated
    ? `cross-origin isolated: WASM can use threads (${env.hardwareConcurrency} cores)`
    : 'not cross-origin isolated: WASM runs on one thread';
  query('#env').replaceChildren(el('span', { class: env.crossOriginIsolated ? 'ok' : 'warn' }, isolation));
  query('#env').dataset.isolated = String(env.crossOriginIsolated);
}

/** `?debug` adds a button that destroys the GPU device, to try the device-loss path. */
function addDebugTools(): void {
  if (!new URLSearchParams(window.location.search).has('debug')) return;
  const button = el(
    'button',
    { type: 'button', id: 'simulate-device-loss', class: 'secondary small' },
    'Simulate GPU device loss',
  );
  button.addEventListener('click', () => void client.call('simulateDeviceLoss', {}));
  query('#active-backend').after(button);
}

async function start(): Promise<void> {
  refresh();
  addDebugTools();
  let env: Environment;
  try {
    env = await client.call('probe', {});
  } catch (error) {
    banner.show(errorInfo(error));
    return;
  }
  describeEnvironment(env);
  picker.render(env, (choice) => void useBackend(choice));
  await useBackend('auto');
  await Promise.all([loadModel('compressed', BUNDLED.compressed), loadModel('reference', BUNDLED.reference)]);
}

void start();
