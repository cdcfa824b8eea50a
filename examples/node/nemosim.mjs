// Starts `nemosim serve` on a free port for a test run, reads its ready
// line, and stops it after: the Node counterpart of examples/python's
// conftest.py. Node 20's own fetch, spawn and test runner; no packages.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export async function startSimulator({ binary = process.env.NEMOSIM || "nemosim", args = [] } = {}) {
  const child = spawn(binary, ["serve", "--port", "0", "--time-scale", "1000", "--seed", "7", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const failed = (error) => {
      child.kill("SIGKILL");
      reject(error);
    };
    const timer = setTimeout(() => failed(new Error("nemosim printed no ready line within 10 s")), 10_000);
    child.once("error", (error) => failed(new Error(`cannot run ${binary}: ${error.message} (set NEMOSIM to the binary)`)));
    child.once("exit", (code) => failed(new Error(`nemosim serve exited with ${code} before it was ready`)));
    lines.on("line", (line) => {
      const match = /^nemosim listening on (http:\/\/\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  const admin = async (method, path, body) => {
    const response = await fetch(url + "/_nemosim" + path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok) throw new Error(`admin ${method} ${path}: HTTP ${response.status}`);
    return response.status === 204 ? null : response.json();
  };
  return {
    url,
    admin,
    /** Journal entries matching a query (method, path, session, status, code, ...). */
    journal: async (query = {}) => (await admin("GET", "/journal?" + new URLSearchParams(query))).entries,
    reset: () => admin("POST", "/reset"),
    /** Ctrl-C, as a person would: the simulator stops within 2 s. */
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code, signal) => resolve(code ?? signal));
        child.kill("SIGINT");
      }),
  };
}
