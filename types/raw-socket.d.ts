// Types for raw-socket 1.8 (the package ships none). Only what tandem uses.

declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';

  export interface SocketOptions {
    protocol?: number;
    addressFamily?: number;
    bufferSize?: number;
    generateChecksums?: boolean;
    checksumOffset?: number;
  }

  export class Socket extends EventEmitter {
    recvPaused: boolean;
    sendPaused: boolean;
    close(): this;
    send(
      buffer: Buffer, offset: number, length: number, address: string,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): this;
    send(
      buffer: Buffer, offset: number, length: number, address: string,
      beforeCallback: () => void, afterCallback: (error: Error | null, bytes: number) => void,
    ): this;
    setOption(level: number, option: number, value: number): void;
    setOption(level: number, option: number, value: Buffer, length: number): void;
    getOption(level: number, option: number, value: Buffer, length: number): number;
    pauseRecv(): this;
    resumeRecv(): this;
    pauseSend(): this;
    resumeSend(): this;
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  export const AddressFamily: { IPv4: number; IPv6: number; [k: string]: number | string };
  export const Protocol: { None: number; ICMP: number; TCP: number; UDP: number; ICMPv6: number; [k: string]: number | string };
  export const SocketLevel: Record<string, number>;
  export const SocketOption: Record<string, number>;

  export function createSocket(options?: SocketOptions): Socket;
  export function createChecksum(...parts: Array<Buffer | { buffer: Buffer; offset: number; length: number }>): number;
  export function writeChecksum(buffer: Buffer, offset: number, checksum: number): Buffer;
  export function htonl(n: number): number;
  export function htons(n: number): number;
  export function ntohl(n: number): number;
  export function ntohs(n: number): number;

  const raw: {
    AddressFamily: typeof AddressFamily;
    Protocol: typeof Protocol;
    SocketLevel: typeof SocketLevel;
    SocketOption: typeof SocketOption;
    Socket: typeof Socket;
    createSocket: typeof createSocket;
    createChecksum: typeof createChecksum;
    writeChecksum: typeof writeChecksum;
    htonl: typeof htonl;
    htons: typeof htons;
    ntohl: typeof ntohl;
    ntohs: typeof ntohs;
  };
  export default raw;
}
