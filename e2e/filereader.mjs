// shirokuma reads a Blob with the browser's FileReader, which Node.js lacks.
// This does the one thing it calls: `readAsArrayBuffer`, then `onload` with the
// bytes in `event.target.result` (or `onerror`). Importing it installs it.

class FileReaderShim {
  result = null;
  error = null;
  onload = null;
  onerror = null;

  readAsArrayBuffer(blob) {
    blob.arrayBuffer().then(
      (buffer) => {
        this.result = buffer;
        this.onload?.({ target: this });
      },
      (err) => {
        this.error = err;
        this.onerror?.(err);
      },
    );
  }
}

globalThis.FileReader ??= FileReaderShim;
