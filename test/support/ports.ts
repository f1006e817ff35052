// A port for a process that binds it later (a gateway listener that appears with its first
// route, a service file's ports): taken like a local app's port, from below the kernel's
// ephemeral range, so the outgoing connections of a busy suite (or a second copy of it) cannot
// take it in the meantime, as a bind-to-0-and-release port could.
import { AppPorts } from '../../src/runtime/ports.js';

const ports = new AppPorts();

export function portToBindLater(): Promise<number> {
  return ports.take();
}
