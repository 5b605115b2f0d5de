import { useState } from 'preact/hooks';

interface CopyButtonProps {
  readonly text: string;
  /** The id of the element showing `text`, so a screen reader hears what is copied. */
  readonly describedBy?: string;
}

/** `Copy`: puts `text` on the clipboard and says so beside the button (a polite live region). */
export function CopyButton({ text, describedBy }: CopyButtonProps) {
  const [status, setStatus] = useState('');
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text);
      setStatus('Copied');
    } catch {
      setStatus('Could not copy: select the text and copy it yourself.');
    }
  };
  return (
    <span class="copy">
      <button type="button" onClick={() => void copy()} aria-describedby={describedBy}>
        Copy
      </button>
      <span class="copy-status" role="status">
        {status}
      </span>
    </span>
  );
}
