import nodemailer from 'nodemailer';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Where self-service mail goes; `smtpMailer` in production, the same against a test sink. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * SMTP through nodemailer, from a URL such as `smtps://user:pass@mail.example.org:465` or
 * `smtp://127.0.0.1:2525` (`--smtp-url`, `LANTERN_SMTP_URL`). Its own logger stays off: it would
 * log message bodies, and the bodies carry the links.
 */
export function smtpMailer(url: string, from: string): Mailer {
  const transport = nodemailer.createTransport(url, { from });
  return {
    async send(message) {
      await transport.sendMail({ from, ...message });
    },
    close() {
      transport.close();
    },
  };
}
