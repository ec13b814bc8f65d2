/**
 * Start at login (issue 23). Windows and macOS have login items, which Electron sets
 * (`app.setLoginItemSettings`); Linux desktops read an XDG autostart entry instead, which this
 * writes. Arguments are quoted for the Exec key so a path with spaces survives.
 */
export function xdgAutostartEntry(execPath: string, args: readonly string[]): string {
  const exec = [execPath, ...args].map(quoteExecArg).join(' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Lantern',
    'Comment=Sign in to your school account on this device',
    `Exec=${exec}`,
    'X-GNOME-Autostart-enabled=true',
    'Terminal=false',
    '',
  ].join('\n');
}

/** The Desktop Entry spec's quoting: double quotes, with `"`, `` ` ``, `$` and `\` escaped. */
function quoteExecArg(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
}
