import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_BLOCKED_EXTENSIONS,
  blockedExtension,
  blockedExtensionSet,
  classifyFileName,
  normalizeFileName,
} from '../../../src/filter/attachments/extensions.ts';

const blocked = DEFAULT_BLOCKED_EXTENSIONS;

test('the issue\'s list is in the default, with the other well-known dangerous ones', () => {
  const issue = 'exe scr pif com bat cmd vbs vbe js jse wsf wsh hta msi msp jar ps1 psm1 lnk iso img vhd vhdx cpl reg chm hlp scf url inf docm xlsm pptm xlam one appx msix';
  const more = 'vb ws msc gadget application settingcontent-ms xll appref-ms library-ms search-ms dll';
  for (const extension of `${issue} ${more}`.split(' ')) assert.ok(blocked.has(extension), extension);
  for (const safe of ['pdf', 'docx', 'xlsx', 'pptx', 'txt', 'jpg', 'png', 'zip', '7z', 'rar', 'gz', 'tar', 'csv', 'eml']) assert.ok(!blocked.has(safe), safe);
});

test('every default extension is refused, in any case, with trailing dots and spaces', () => {
  for (const extension of blocked) {
    for (const name of [`file.${extension}`, `FILE.${extension.toUpperCase()}`, `File.${extension}.`, `file.${extension} . .`, `file.${extension}   `]) {
      assert.deepEqual(classifyFileName(name, blocked), { extension, reason: 'extension' }, name);
      assert.equal(blockedExtension(name, blocked), extension, name);
    }
  }
});

test('double extensions: a decoy before the refused one, even with spaces between', () => {
  assert.deepEqual(classifyFileName('invoice.pdf.exe', blocked), { extension: 'exe', reason: 'double-extension' });
  assert.deepEqual(classifyFileName('scan.pdf      .exe', blocked), { extension: 'exe', reason: 'double-extension' });
  assert.deepEqual(classifyFileName('report                .scr', blocked), { extension: 'scr', reason: 'double-extension' });
  assert.deepEqual(classifyFileName('Photo.JPG.Js  ', blocked), { extension: 'js', reason: 'double-extension' });
  // The last extension is what runs: a refused one in the middle is harmless.
  assert.equal(classifyFileName('setup.exe.pdf', blocked), undefined);
  assert.equal(classifyFileName('notes.exe.txt', blocked), undefined);
});

test('names that pass', () => {
  for (const name of ['report.pdf', 'exe', 'Budget.xlsx', 'archive.zip', 'photo.jpeg', 'readme', '.profile', 'a.b.c.d.txt', 'js', 'document.docx.']) {
    assert.equal(classifyFileName(name, blocked), undefined, name);
  }
});

test('invisible and bidi controls: removed before the extension is read; an override is deceptive', () => {
  // U+202E RIGHT-TO-LEFT OVERRIDE shows "invoice\u202Efdp.exe" as "invoiceexe.pdf".
  assert.deepEqual(classifyFileName('invoice\u202efdp.exe', blocked), { extension: 'exe', reason: 'deceptive-name' });
  // Even when the real extension is harmless: its only use in a name is to deceive.
  assert.deepEqual(classifyFileName('photo\u202egnp.txt', blocked), { extension: 'txt', reason: 'deceptive-name' });
  assert.deepEqual(classifyFileName('evil.e\u200bxe', blocked), { extension: 'exe', reason: 'extension' });
  assert.deepEqual(classifyFileName('evil.exe\ufeff', blocked), { extension: 'exe', reason: 'extension' });
  assert.deepEqual(classifyFileName('evil.\u2066exe\u2069', blocked), { extension: 'exe', reason: 'extension' });
});

test('NUL, paths, NTFS streams, fullwidth letters and {CLSID} extensions', () => {
  assert.deepEqual(classifyFileName('evil.exe\0.pdf', blocked), { extension: 'exe', reason: 'extension' });
  assert.deepEqual(classifyFileName('../../Startup/evil.bat', blocked), { extension: 'bat', reason: 'extension' });
  assert.deepEqual(classifyFileName('C:\\temp\\evil.cmd', blocked), { extension: 'cmd', reason: 'extension' });
  assert.deepEqual(classifyFileName('evil.exe::$DATA', blocked), { extension: 'exe', reason: 'extension' });
  assert.deepEqual(classifyFileName('evil.\uff45\uff58\uff45', blocked), { extension: 'exe', reason: 'extension' });
  assert.equal(classifyFileName('folder.{20D04FE0-3AEA-1069-A2D8-08002B30309D}', blocked)?.reason, 'extension');
  assert.equal(normalizeFileName('Dir/Sub\\NAME.Exe. . '), 'name.exe');
});

test('a configured list is normalised like names', () => {
  const set = blockedExtensionSet([' .EXE', 'Js', '', '..bat', '\uff43\uff4f\uff4d']);
  assert.deepEqual([...set].sort(), ['bat', 'com', 'exe', 'js']);
  assert.equal(blockedExtension('a.COM', set), 'com');
  assert.equal(blockedExtension('a.scr', set), undefined);
});
