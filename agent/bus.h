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

/* Emits PropertiesChanged for the properties that changed since the last call. */
int bus_publish(Manager *m);

/* Opens a client connection: address, else the system bus (which honours DBUS_SYSTEM_BUS_ADDRESS). */
int bus_connect_client(const char *address, sd_bus **ret);
