/* SPDX-License-Identifier: Apache-2.0 */
/* The record, beside a volume's key, that nodeseal formatted that volume: a signal off the disk. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "error.h"
#include "secret.h"

/* Two write-once keys in the keys Secret (or files in the directory source), each a small JSON
 * object, named after the volume's key:
 *   "<key>.luks-uuid"  {"uuid": ..., "time": ..., "device": ...}  stored before the first write
 *                      of a format: the LUKS2 header that is about to be written will carry uuid;
 *   "<key>.formatted"  {"uuid": ..., "time": ...}  stored once the key slot is in the header, before
 *                      the volume is opened for the first time: from then on it may hold data.
 * A volume that has a record is never formatted again however blank its device reads (a degraded
 * backend returning zeros, a wiped header); only an operator who deletes the record can allow it. */
#define FORMAT_RECORD_BEGUN_SUFFIX ".luks-uuid"
#define FORMAT_RECORD_DONE_SUFFIX ".formatted"

typedef struct FormatRecord {
        char uuid[40];          /* of the LUKS2 header; "" when there is no record */
        char begun[32];         /* when the format began (UTC) */
        char device[128];       /* the device it was made on, as configured then */
        bool done;              /* the key slot was added: the volume may hold data */
        char done_at[32];
        char secret[256];       /* the Secret that holds the record (or would), for messages */
} FormatRecord;

/* Reads the record afresh from the source. 0 with ret->uuid "" when there is none, 1 when there
 * is one; an error when the source cannot tell (the format decision cannot be made then). */
int format_record_read(SecretSource *s, const VolumeConfig *v, FormatRecord *ret, NsError *error);

/* Stores "<key>.luks-uuid" unless it exists, reads it back and returns it: the uuid to format with
 * is the stored one. Fails, naming what is missing (permission, a read-only directory), when the
 * record cannot be stored: then nothing may be formatted. */
int format_record_begin(SecretSource *s, const VolumeConfig *v, const char *uuid, const char *device,
                        FormatRecord *ret, NsError *error);

/* Stores "<key>.formatted" for uuid unless it exists (then it must name the same uuid). */
int format_record_complete(SecretSource *s, const VolumeConfig *v, const char *uuid, NsError *error);

/* "formatted as LUKS <uuid> on <time>" or "began formatting ... on <time>", for messages. */
void format_record_describe(const FormatRecord *r, char *buf, size_t size);

/* Parses one record value (JSON); -EBADMSG when it is not one. For the fuzzer as well. */
int format_record_parse(const char *text, size_t size, char *ret_uuid, size_t uuid_size, char *ret_time,
                        size_t time_size, char *ret_device, size_t device_size);

/* A new random RFC 4122 version 4 UUID, lower case. */
int format_record_new_uuid(char buf[static 37]);
