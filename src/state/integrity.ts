// Checks a LevelDB directory before LevelDB opens it. LevelDB (as bundled
// by classic-level, without paranoid_checks) repairs what it finds on open
// without telling anyone: a damaged write-ahead log is cut at the damage and
// every later record in that block is dropped; a missing CURRENT starts an
// empty database and deletes the old files. For tandem that means a
// forgotten hold (the group may run on both nodes) or a reused generation.
// So the files are read here first, read-only, with LevelDB's own rules, and
// anything that would lose a record is refused while the evidence is intact.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reflectedCrc32 } from '../util/crc.js';

// ---- CRC-32C (Castagnoli), as LevelDB checksums its records -------------

export const crc32c = reflectedCrc32(0x82f63b78);

/** LevelDB stores masked CRCs (crc32c::Mask). */
export function unmaskCrc(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

// ---- the write-ahead log (db/log_format.h, db/log_reader.cc) ------------

const BLOCK = 32768;
const HEADER = 7;
const FULL = 1, FIRST = 2, MIDDLE = 3, LAST = 4;

export interface LogScan {
  /** Complete records LevelDB will replay. */
  records: number;
  /** Damage LevelDB would skip, dropping records: refuse to open. */
  damage?: string;
  /** Bytes of an interrupted last write LevelDB ignores; nothing acknowledged is in them. */
  tornTail?: number;
}

/** Is there a record with a valid checksum anywhere in buf[from, to)? (Records LevelDB would silently skip.) */
function validRecordIn(buf: Buffer, from: number, to: number): number | undefined {
  for (let o = from; o + HEADER <= to; o++) {
    const len = buf[o + 4]! | (buf[o + 5]! << 8);
    const type = buf[o + 6]!;
    if (type < FULL || type > LAST || len === 0 || o + HEADER + len > to) continue;
    // Records never cross a block boundary.
    if (Math.floor(o / BLOCK) !== Math.floor((o + HEADER + len - 1) / BLOCK)) continue;
    if (unmaskCrc(buf.readUInt32LE(o)) === crc32c(buf, o + 6, o + HEADER + len)) return o;
  }
  return undefined;
}

/**
 * Reads a log file as LevelDB 1.20's log::Reader does, and tells apart what
 * it would report as corruption, what it skips silently (an interrupted last
 * write: harmless), and what it skips silently although complete records are
 * in it (damage: records would be lost without a word).
 */
export function scanLog(buf: Buffer): LogScan {
  let records = 0;
  let fragmented = false;
  let fragLen = 0;
  const damage = (at: number, what: string): LogScan => ({ records, damage: `${what} at byte ${at} of ${buf.length}` });
  const silentSkip = (from: number, to: number): LogScan | undefined => {
    const hidden = validRecordIn(buf, from, to);
    if (hidden !== undefined) return damage(from, `unreadable data hiding a valid record (at byte ${hidden})`);
    return undefined;
  };
  let tornTail: number | undefined;
  for (let blockStart = 0; blockStart < buf.length; blockStart += BLOCK) {
    const blockEnd = Math.min(blockStart + BLOCK, buf.length);
    const eof = blockEnd - blockStart < BLOCK;
    let o = blockStart;
    while (blockEnd - o >= HEADER) {
      const len = buf[o + 4]! | (buf[o + 5]! << 8);
      const type = buf[o + 6]!;
      if (o + HEADER + len > blockEnd) {
        if (!eof) return damage(o, 'bad record length');
        // LevelDB treats this as the writer dying mid-record and stops reading.
        const hidden = silentSkip(o, buf.length);
        if (hidden) return hidden;
        if (buf.subarray(o).some((b) => b !== 0)) tornTail = buf.length - o;
        return { records, ...(tornTail ? { tornTail } : {}) };
      }
      if (type === 0 && len === 0) {
        if (fragmented) return damage(o, 'error in middle of record');
        // Preallocated space: LevelDB skips the rest of the block silently.
        const hidden = silentSkip(o, blockEnd);
        if (hidden) return hidden;
        o = blockEnd;
        break;
      }
      if (unmaskCrc(buf.readUInt32LE(o)) !== crc32c(buf, o + 6, o + HEADER + len)) return damage(o, 'checksum mismatch');
      switch (type) {
        case FULL:
          if (fragmented) return damage(o, 'partial record without end');
          if (len < 12) return damage(o, 'log record too small');
          records += 1;
          break;
        case FIRST:
          if (fragmented) return damage(o, 'partial record without end');
          fragmented = true;
          fragLen = len;
          break;
        case MIDDLE:
          if (!fragmented) return damage(o, 'missing start of fragmented record');
          fragLen += len;
          break;
        case LAST:
          if (!fragmented) return damage(o, 'missing start of fragmented record');
          fragmented = false;
          if (fragLen + len < 12) return damage(o, 'log record too small');
          records += 1;
          break;
        default:
          return damage(o, `unknown record type ${type}`);
      }
      o += HEADER + len;
    }
    // Fewer than 7 bytes left: the writer's zero trailer, skipped by the reader.
    if (eof && o < blockEnd && buf.subarray(o, blockEnd).some((b) => b !== 0)) tornTail = blockEnd - o;
  }
  // A logical record cut short at the end is an interrupted write too.
  return { records, ...(tornTail ? { tornTail } : {}) };
}

// ---- the directory -----------------------------------------------------

export interface DirCheck {
  /** The directory holds no database yet (or does not exist): LevelDB will create one. */
  fresh: boolean;
  /** Why opening would lose data; the caller refuses to open. */
  problems: string[];
  /** Worth a warning, nothing lost. */
  notes: string[];
}

const DB_FILE = /^(MANIFEST-\d+|\d+\.(log|ldb|sst))$/;

/** Read-only checks of a LevelDB directory, before LevelDB opens (and would silently repair) it. */
export function checkLevelDir(dir: string): DirCheck {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { fresh: true, problems: [], notes: [] };
    throw e;
  }
  const dbFiles = names.filter((n) => DB_FILE.test(n)).sort();
  const problems: string[] = [];
  const notes: string[] = [];
  if (!names.includes('CURRENT')) {
    if (dbFiles.length === 0) return { fresh: true, problems, notes };
    problems.push(`CURRENT is missing but database files are there (${dbFiles.slice(0, 4).join(', ')}${dbFiles.length > 4 ? ', …' : ''}): ` +
      'LevelDB would start an empty database and delete them');
    return { fresh: false, problems, notes };
  }
  for (const name of dbFiles.filter((n) => n.endsWith('.log'))) {
    const scan = scanLog(readFileSync(join(dir, name)));
    if (scan.damage) problems.push(`write-ahead log ${name} is damaged (${scan.damage}): LevelDB would drop the records after it`);
    else if (scan.tornTail) notes.push(`write-ahead log ${name} ends in ${scan.tornTail} bytes of an interrupted write; they hold no complete record and are ignored`);
  }
  return { fresh: false, problems, notes };
}
