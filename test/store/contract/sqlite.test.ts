// The store contract on the sqlite backend (node:sqlite metadata and small messages, files for larger ones).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../src/store/store.ts';
import { storedContents } from '../deliver.ts';
import { storeContract } from './store-contract.ts';

let dir = '';
storeContract('sqlite', {
  async open() {
    dir = mkdtempSync(join(tmpdir(), 'kakitome-contract-'));
    return openStore(join(dir, 'data'), { create: true });
  },
  fileCount: async () => storedContents(join(dir, 'data')).length,
  dispose: async () => rmSync(dir, { recursive: true, force: true }),
});
