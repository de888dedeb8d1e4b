/**
 * Runs async tasks one after another. All GPU work of a backend goes through one queue: scratch and
 * readback buffers are reused across calls, and a mapped readback buffer cannot serve two calls at once.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
