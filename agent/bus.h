/* SPDX-License-Identifier: Apache-2.0 */
/* The D-Bus object org.nodeseal.Agent1 at /org/nodeseal/Agent1. */
#pragma once

#include "manager.h"

#define BUS_NAME "org.nodeseal.Agent1"
#define BUS_PATH "/org/nodeseal/Agent1"
#define BUS_INTERFACE "org.nodeseal.Agent1"
#define BUS_ERROR_NOT_READY "org.nodeseal.Agent1.Error.NotReady"
#define BUS_ERROR_FAILED "org.nodeseal.Agent1.Error.Failed"
#define BUS_ERROR_STOPPING "org.nodeseal.Agent1.Error.Stopping"

/* Connects to m->bus_address (or the system bus), exports the object, takes the name and attaches
 * to m->event. A negative return leaves m->bus NULL: the daemon goes on without a bus. */
int bus_open(Manager *m);
void bus_close(Manager *m);
/* Tries bus_open() again every few seconds until it works. */
int bus_schedule_reconnect(Manager *m);

/* The properties, as bits of a change mask. */
typedef enum BusProperty {
        BUS_PROPERTY_STATE = 1 << 0,
        BUS_PROPERTY_READY = 1 << 1,
        BUS_PROPERTY_STATUS_TEXT = 1 << 2,
        BUS_PROPERTY_LAST_ERROR = 1 << 3,
        BUS_PROPERTY_VOLUMES = 1 << 4,
        BUS_PROPERTY_CERTIFICATES = 1 << 5,
        BUS_PROPERTY_CA_NOT_AFTER = 1 << 6,
        BUS_PROPERTY_RELOADS = 1 << 7,
        BUS_PROPERTY_CA_ROTATION = 1 << 8,
        BUS_PROPERTY_REENCRYPTION = 1 << 9,
        _BUS_PROPERTY_ALL = (1 << 10) - 1,
} BusProperty;

/* Marks properties as changed; one PropertiesChanged for all that are marked goes out from a
 * deferred event source, once the current event has been handled. */
void bus_mark_changed(Manager *m, unsigned properties);

/* Opens a client connection: address, else the system bus (which honours DBUS_SYSTEM_BUS_ADDRESS). */
int bus_connect_client(const char *address, sd_bus **ret);
