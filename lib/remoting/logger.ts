/**
 * Where the remoting layer reports what it does to a connection on its own (a junk frame, an idle
 * close). Injected so that a server embedded in an application logs through it, and tests can listen.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export const consoleLogger: Logger = {
  info: () => {},
  warn: (m) => console.warn(m),
};


export const silentLogger: Logger = { info: () => {}, warn: () => {} };
