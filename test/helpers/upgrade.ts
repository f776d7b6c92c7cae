/**
 * A hostile live-upgrade successor (protocol/upgrade.ts): it connects to a daemon's --upgrade-socket,
 * says HELLO, takes the state and every fd it is sent, closes them, and goes away without ACK — as
 * a successor killed mid-hand-over would. The daemon must resume serving.
 */
import * as native from '../../src/native/index.js';
import { UpgradeChannel } from '../../src/upgrade/channel.js';
import { UpgradeMsg, UPGRADE_VERSION } from '../../protocol/upgrade.js';

/** Returns the type of the first frame the daemon sent (STATE when it began the hand-over). */
export async function successorThatDies(upgradeSocket: string, timeoutMs: number, pid = 0): Promise<UpgradeMsg> {
  const fd = native.socket(0);
  native.connect(fd, upgradeSocket);
  const ch = new UpgradeChannel(fd);
  try {
    ch.send(UpgradeMsg.HELLO, { maxVersion: UPGRADE_VERSION, pid });
    const first = await ch.recv(timeoutMs);
    if (first.type !== UpgradeMsg.STATE) return first.type;
    let got = 0;
    while (got < (first.body as { fdCount: number }).fdCount) {
      const f = await ch.recv(timeoutMs);
      got += f.fds.length;
      f.fds.forEach((x) => native.closeQuietly(x));
    }
    return first.type;
  } finally {
    ch.close();
  }
}
