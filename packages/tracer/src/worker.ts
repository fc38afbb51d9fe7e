import { parentPort, workerData } from 'node:worker_threads';
import { Consumer, type ConsumerConfig } from './consumer.js';
import { ringViews } from './ring.js';

/** The worker side of WorkerPipeline: drains the shared ring on a timer and on request. */
const { sab, config, interval } = workerData as {
  sab: SharedArrayBuffer;
  config: ConsumerConfig;
  interval: number;
};
const port = parentPort!;
const consumer = new Consumer(ringViews(sab), config, (c) =>
  port.postMessage({ type: 'config', config: c }),
);
const timer = setInterval(() => consumer.tick(), interval);

port.on('message', (msg: { type: string; id?: number }) => {
  if (msg.type === 'wake') consumer.drain();
  else if (msg.type === 'flush')
    consumer.flush().finally(() => port.postMessage({ type: 'flushed', id: msg.id }));
  else if (msg.type === 'close') {
    clearInterval(timer);
    consumer.close().finally(() => port.postMessage({ type: 'closed', id: msg.id }));
  }
});
