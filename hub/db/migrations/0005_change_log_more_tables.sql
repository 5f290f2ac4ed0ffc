-- 0005: the tables added for user queries log their changes too, so their
-- changefeeds see every write (through any hub, or straight in SQL).

CREATE TRIGGER public_paths_change_log
    AFTER INSERT OR UPDATE OR DELETE ON public_paths
    FOR EACH ROW EXECUTE FUNCTION hub_change_log('id');

CREATE TRIGGER project_log_change_log
    AFTER INSERT OR UPDATE OR DELETE ON project_log
    FOR EACH ROW EXECUTE FUNCTION hub_change_log('id');

CREATE TRIGGER system_notifications_change_log
    AFTER INSERT OR UPDATE OR DELETE ON system_notifications
    FOR EACH ROW EXECUTE FUNCTION hub_change_log('id');
