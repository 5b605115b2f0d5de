import type { ComponentChildren } from 'preact';
import { useId, useRef, useState } from 'preact/hooks';
import { describeError } from './messages.tsx';
import { ErrorAlert } from './layout.tsx';

interface ConfirmButtonProps {
  /** The name of both buttons: the one that asks and the one that confirms (`Delete`, `Refresh`). */
  readonly label: string;
  /** The dialog's heading. */
  readonly question: string;
  /** What happens, in plain words. */
  readonly children: ComponentChildren;
  /** Runs on confirmation; a rejection is shown in the dialog. */
  readonly onConfirm: () => Promise<void>;
}

/**
 * A destructive action behind a native modal `<dialog>`: it traps focus, closes on Escape, and
 * starts on `Cancel`, so a stray Enter never confirms.
 */
export function ConfirmButton({ label, question, children, onConfirm }: ConfirmButtonProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  const open = (): void => {
    setError(null);
    dialog.current?.showModal();
  };
  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      dialog.current?.close();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button type="button" class="danger" onClick={open}>
        {label}
      </button>
      <dialog ref={dialog} aria-labelledby={`${id}-q`} aria-describedby={`${id}-d`}>
        <h2 id={`${id}-q`}>{question}</h2>
        <div id={`${id}-d`}>{children}</div>
        <ErrorAlert message={error} />
        <div class="actions">
          <button type="button" autofocus onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="button" class="danger" disabled={busy} onClick={() => void confirm()}>
            {label}
          </button>
        </div>
      </dialog>
    </>
  );
}

/** `Refresh` for the default public token (a DELETE, which the server turns into a replacement). */
export function RefreshButton({ onConfirm }: { readonly onConfirm: () => Promise<void> }) {
  return (
    <ConfirmButton label="Refresh" question="Refresh the default public token?" onConfirm={onConfirm}>
      <p>A new default public token, with a new string, replaces this one.</p>
      <p>
        <strong>The old string stops working at once:</strong> every app and site that uses it is refused until it gets the new string.
      </p>
    </ConfirmButton>
  );
}
