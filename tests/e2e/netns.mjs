// Runs a node script inside a network namespace of its own (RIGS.md): a
// loopback-only namespace that the test creates and always deletes, so that
// what the script does to the network (dropping packets with iptables) stays
// inside it.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';

/** True when namespaces can be made here (root, ip and iptables present). */
export function netnsAvailable() {
  if (process.getuid?.() !== 0) return false;
  return ['ip', 'iptables'].every((cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0);
}

/**
 * Runs `node script` inside a fresh namespace; resolves with its parsed last
 * stdout line (JSON) and its stderr. The namespace is deleted afterwards.
 * @param {string} script path of a .mjs file
 * @param {{timeoutMs?: number, env?: Record<string, string>}} [opts]
 */
export async function runInNetns(script, opts = {}) {
  const ns = `w2t-${crypto.randomBytes(4).toString('hex')}`;
  const ip = (...args) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  };
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script], {
      env: { ...process.env, ...opts.env, W2_NETNS: ns },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err += b; });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, opts.timeoutMs ?? 120000);
    const code = await new Promise((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    const last = out.trim().split('\n').pop() ?? '';
    let result;
    try {
      result = JSON.parse(last);
    } catch {
      throw new Error(`${script} exited ${code} without a JSON result:\n${out}\n${err}`);
    }
    return { result, stderr: err, code };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}
