// Which file names are refused: the default list of dangerous extensions, the name
// normalisation Windows and mail clients apply before they pick a program (case,
// trailing dots and spaces, invisible controls), and the double-extension trick
// (`invoice.pdf.exe`, `scan.pdf      .exe`).

/**
 * Extensions a recipient's machine runs, installs, mounts or loads on a double click
 * (or that hold code the way such files do). Grouped by why; lower case, no dot.
 * Archives (zip, 7z, rar, tar, gz) are not here: they are opened and their names checked.
 */
export const DEFAULT_BLOCKED_EXTENSIONS: ReadonlySet<string> = new Set([
  // Programs and installers (PE files, DOS programs, Windows Installer packages and patches).
  'exe', 'com', 'pif', 'scr', 'msi', 'msp', 'mst', 'msu', 'appx', 'appxbundle', 'msix', 'msixbundle', 'appinstaller',
  // Loaded code: a DLL beside a signed program in an archive is the side-loading trick;
  // control-panel items and Excel add-ins are DLLs by another name.
  'dll', 'ocx', 'sys', 'cpl', 'xll',
  // Scripts Windows runs itself: cmd.exe, Windows Script Host (VBScript, JScript, WSF,
  // scriptlets), PowerShell (scripts, modules, manifests, consoles), HTML applications.
  'bat', 'cmd', 'vb', 'vbs', 'vbe', 'js', 'jse', 'ws', 'wsf', 'wsh', 'wsc', 'sct', 'hta',
  'ps1', 'ps1xml', 'ps2', 'ps2xml', 'psc1', 'psc2', 'psd1', 'psm1', 'pssc',
  'msh', 'msh1', 'msh2', 'mshxml', 'msh1xml', 'msh2xml',
  // Java archives and Java Web Start descriptors run with the installed JRE.
  'jar', 'jnlp',
  // Shortcuts and shell files that point at or run a program: .lnk, .url, shell scrap
  // objects, Explorer commands, search and library descriptions (WebDAV lures),
  // settings shortcuts, ClickOnce, Windows Sandbox configurations, themes.
  'lnk', 'url', 'website', 'scf', 'shs', 'shb', 'pcd', 'inf', 'ins', 'isp', 'its', 'reg',
  'settingcontent-ms', 'library-ms', 'search-ms', 'searchconnector-ms', 'application', 'appref-ms', 'xbap',
  'gadget', 'msc', 'diagcab', 'wsb', 'theme', 'themepack', 'deskthemepack',
  // Compiled help runs scripts; WinHelp ran macros.
  'chm', 'hlp',
  // Disk images mount with a double click and their files lose the mark of the web.
  'iso', 'img', 'vhd', 'vhdx', 'dmg',
  // Office formats that hold macros (documents, templates, slide shows, add-ins) and
  // OneNote notebooks, whose embedded files run with a click. Plain doc/xls can hold
  // macros too, but refusing them would refuse a generation of ordinary documents.
  'docm', 'dotm', 'xlsm', 'xltm', 'xlsb', 'xlam', 'pptm', 'potm', 'ppsm', 'ppam', 'sldm',
  'one', 'onepkg',
  // Access databases and projects run VBA on opening.
  'mdb', 'mde', 'accde', 'ade', 'adp', 'mda',
  // macOS: Terminal runs .command and .tool files; .pkg installs.
  'command', 'tool', 'pkg',
]);

/** Controls that reverse or reorder what is shown (RLO in `gpj.exe` displays as `exe.jpg`). */
const BIDI_OVERRIDE = /[\u202d\u202e]/u;
/** Invisible formatting characters: bidi marks, embeddings, isolates, zero-width characters, BOM. */
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u180e\ufeff]/gu;
/** A {CLSID} extension makes Explorer pick the handler by class id (`x.{3050F4D8-…}`). */
const CLSID_EXTENSION = /^\{[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\}$/u;
/** What Windows drops from the end of a name: dots, spaces, and NTFS's `::$DATA` stream name. */
const WINDOWS_TRAILER = /(?:[. \t]+|::\$data)+$/u;

/**
 * The name a recipient's system acts on: the last path component (mail clients drop
 * directories; `/` and `\` both), compatibility forms folded (NFKC: a fullwidth `ｅｘｅ`
 * becomes `exe`; refusing what some tool folds costs nothing), invisible controls
 * removed, trailing dots, spaces and `::$DATA` removed as Windows does, lower case.
 */
export function normalizeFileName(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  return base.normalize('NFKC').replace(INVISIBLE, '').toLowerCase().replace(WINDOWS_TRAILER, '');
}

/** The last extension of a normalised name (`pdf` of `a.tar.pdf`), or '' when it has none. */
export function extensionOf(normalized: string): string {
  const dot = normalized.lastIndexOf('.');
  return dot < 0 ? '' : normalized.slice(dot + 1).trim();
}

export type NameReason = 'extension' | 'double-extension' | 'deceptive-name';

export interface BlockedName {
  /** The extension the system acts on (lower case; for deceptive-name, maybe not a listed one). */
  extension: string;
  reason: NameReason;
}

/**
 * Why a name is refused, or undefined when it may pass. The name is normalised first;
 * a NUL cuts it for C-string readers (`evil.exe\0.pdf` is `evil.exe` to them), so both
 * readings are checked. `double-extension` is a refused extension behind another one or
 * behind a run of spaces (`invoice.pdf.exe`, `scan.pdf      .exe`, `report      .exe`);
 * `deceptive-name` is a bidi override, whose only use in a file name is to make the
 * shown extension differ from the real one.
 */
export function classifyFileName(name: string, blocked: ReadonlySet<string>): BlockedName | undefined {
  if (BIDI_OVERRIDE.test(name)) return { extension: extensionOf(normalizeFileName(name)), reason: 'deceptive-name' };
  const readings = name.includes('\0') ? [name, name.slice(0, name.indexOf('\0'))] : [name];
  for (const reading of readings) {
    const normalized = normalizeFileName(reading);
    const extension = extensionOf(normalized);
    if (extension === '' || !(blocked.has(extension) || CLSID_EXTENSION.test(extension))) continue;
    const stem = normalized.slice(0, normalized.lastIndexOf('.'));
    const decoy = /\s$/u.test(stem) || /\.[^.\s]{1,6}\s*$/u.test(stem);
    return { extension, reason: decoy ? 'double-extension' : 'extension' };
  }
  return undefined;
}

/** The refused extension of a name (see classifyFileName), or undefined. */
export function blockedExtension(name: string, blocked: ReadonlySet<string>): string | undefined {
  return classifyFileName(name, blocked)?.extension;
}

/** A configured list (`EXE`, `.exe`, ` exe `) as the set classifyFileName wants. */
export function blockedExtensionSet(extensions: Iterable<string>): ReadonlySet<string> {
  const set = new Set<string>();
  for (const extension of extensions) {
    const normalized = extension.normalize('NFKC').trim().toLowerCase().replace(/^\.+/u, '');
    if (normalized !== '') set.add(normalized);
  }
  return set;
}
