// Keeps at most one request of a tool in flight: calls made while one runs
// collapse into a single rerun when it ends, so the last state always wins.

export function coalesce(job) {
  let busy = false, again = false;
  return async function run() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      await job();
    } finally {
      busy = false;
      if (again) { again = false; run(); }
    }
  };
}
