import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import QRCode from 'qrcode';
import { ApiError } from './api';

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** A refusal, in the CA's own words, announced to screen readers. */
export function ErrorBox({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return (
    <p class="error" role="alert">
      {messageOf(error)}
    </p>
  );
}

/** Loads on mount and whenever `deps` change; `reload` fetches again after a change. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    load().then(
      (value) => live && setData(value),
      (failure: unknown) => live && setError(failure),
    );
    return () => {
      live = false;
    };
  }, [...deps, generation]);
  return { data, error, reload: () => setGeneration((n) => n + 1) };
}

export function PageTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  // Keyboard and screen-reader users land on the new page's title after navigating.
  useEffect(() => ref.current?.focus(), []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

/** A modal `<dialog>`: the browser traps focus and gives it role dialog; Escape cancels. */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby="dialog-title"
      onCancel={(event) => {
        event.preventDefault();
        props.onClose();
      }}
    >
      <h2 id="dialog-title">{props.title}</h2>
      {props.children}
    </dialog>
  );
}

/**
 * Asks before an action that cannot be undone: Cancel, or the danger button `confirm` names.
 * The question is a form, so a dialog may ask for more (a reason) that `onConfirm` reads.
 */
export function ConfirmDialog(props: {
  title: string;
  confirm: string;
  onCancel: () => void;
  onConfirm: (form: HTMLFormElement) => unknown;
  busy?: boolean;
  error?: unknown;
  children: ComponentChildren;
}) {
  return (
    <Dialog title={props.title} onClose={props.onCancel}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void props.onConfirm(event.currentTarget);
        }}
      >
        {props.children}
        <ErrorBox error={props.error} />
        <div class="actions">
          <button type="button" class="secondary" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" class="danger" disabled={props.busy}>
            {props.confirm}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** A QR code drawn as SVG from the `qrcode` module matrix (no canvas, no image URL). */
export function QrCode({ text, label }: { text: string; label: string }) {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const size = qr.modules.size;
  let path = '';
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (qr.modules.get(row, col)) path += `M${col + 4} ${row + 4}h1v1h-1z`;
    }
  }
  const box = size + 8;
  return (
    <svg class="qr" viewBox={`0 0 ${box} ${box}`} role="img" aria-label={label}>
      <rect width={box} height={box} fill="#fff" />
      <path d={path} fill="#000" shape-rendering="crispEdges" />
    </svg>
  );
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleString('en-GB', { timeZone: 'UTC' }) + ' UTC';
}

/** Downloads text the page built (CSV export, credentials) without a server round trip. */
export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Random secrets for new accounts: learners get a 6-digit PIN, others a 4-word-long password. */
export function generateSecret(role: string): string {
  const random = (n: number) => crypto.getRandomValues(new Uint32Array(1))[0]! % n;
  if (role === 'learner') {
    for (;;) {
      const pin = Array.from({ length: 6 }, () => random(10)).join('');
      const steps = new Set([...pin].slice(1).map((d, i) => (+d - +pin[i]! + 10) % 10));
      if (steps.size > 1) return pin;
    }
  }
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const group = () => Array.from({ length: 4 }, () => alphabet[random(alphabet.length)]).join('');
  return `${group()}-${group()}-${group()}-${group()}`;
}
