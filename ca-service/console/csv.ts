/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += char;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((cell) => cell.trim() !== ''));
}

export function toCsv(rows: (string | number | null | undefined)[][]): string {
  const cell = (value: string | number | null | undefined) => {
    const text = value === null || value === undefined ? '' : String(value);
    // A leading = + - @ would run as a formula in a spreadsheet: quote it as text.
    const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return rows.map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

export interface RosterRow {
  username: string;
  displayName: string;
  role: 'learner' | 'teacher' | 'admin';
}

/** A class roster: `username, display name, role` per line; a header line is skipped. */
export function parseRoster(text: string): { rows: RosterRow[]; problems: string[] } {
  const rows: RosterRow[] = [];
  const problems: string[] = [];
  const lines = parseCsv(text);
  if (lines[0]?.[0]?.trim().toLowerCase() === 'username') lines.shift();
  lines.forEach((line, index) => {
    const [username = '', displayName = '', role = 'learner'] = line.map((cell) => cell.trim());
    const normalised = role.toLowerCase() || 'learner';
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(username)) {
      problems.push(`Line ${index + 1}: "${username}" is not a valid username.`);
    } else if (normalised !== 'learner' && normalised !== 'teacher' && normalised !== 'admin') {
      problems.push(`Line ${index + 1}: role must be learner, teacher or admin, not "${role}".`);
    } else {
      rows.push({ username, displayName, role: normalised });
    }
  });
  return { rows, problems };
}
