// Undo / redo over snapshots of the object list. Mask canvases are never
// modified after they appear in a snapshot (tools copy before drawing), so a
// snapshot only copies the object records and polygon arrays.

const LIMIT = 300;

export function snapshot(objects) {
  return objects.map((o) => ({
    ...o,
    polygon: o.polygon ? o.polygon.map((p) => [p[0], p[1]]) : undefined,
  }));
}

export class History {
  constructor() { this.reset([]); }

  reset(objects) {
    this.past = [snapshot(objects)];
    this.future = [];
  }

  push(objects) {
    this.past.push(snapshot(objects));
    if (this.past.length > LIMIT) this.past.shift();
    this.future = [];
  }

  get canUndo() { return this.past.length > 1; }
  get canRedo() { return this.future.length > 0; }

  /** Returns the object list to restore, or null. */
  undo() {
    if (!this.canUndo) return null;
    this.future.push(this.past.pop());
    return snapshot(this.past[this.past.length - 1]);
  }

  redo() {
    if (!this.canRedo) return null;
    const s = this.future.pop();
    this.past.push(s);
    return snapshot(s);
  }
}
